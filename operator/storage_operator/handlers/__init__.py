"""kopf glue: handlers wake the reconcile loop and hold finalizers; they decide nothing and build nothing."""

from storage_operator.handlers import on as on
