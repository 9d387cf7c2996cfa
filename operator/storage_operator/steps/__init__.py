"""The steps of a pass: each does the I/O a plan asks for and returns an Outcome; no kopf, no decision of its own."""
