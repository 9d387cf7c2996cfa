"""One StorageCluster pass: observe once, run the steps in order, report once; no kopf, no decisions of its own."""
