"""Lifecycle states, phases and condition vocabulary shared by the operator's modules (pure)."""

from enum import StrEnum


class NodeState(StrEnum):
    """A StorageNode's lifecycle state (`spec.state` is the desired one, `status.state` the effective one)."""

    ONLINE = "online"
    MAINTENANCE = "maintenance"
    SHUTDOWN = "shutdown"
    DECOMMISSIONED = "decommissioned"


class ReplaceStage(StrEnum):
    """How far a replacement of a node's volume (`spec.replace`) has come (`status.replacement.stage`)."""

    NEEDS_CONFIRMATION = "NeedsConfirmation"  # the node still answers: `confirm` must repeat its name
    REFUSED = "Refused"  # not a member that should serve: nothing to replace
    REMOVING_POD = "RemovingPod"  # its pod goes (cancellable until the next stage)
    REMOVING_VOLUME = "RemovingVolume"  # its claim and volume go: no way back
    STARTING = "Starting"  # a new empty volume and a pod with the same identity
    REFILLING = "Refilling"  # its share comes from the other holders (a rebalance)
    DONE = "Done"
    CANCELLED = "Cancelled"


class ClusterState(StrEnum):
    """A StorageCluster's cluster-wide state."""

    ONLINE = "online"
    SHUTDOWN = "shutdown"
    DECOMMISSIONED = "decommissioned"


class NodePhase(StrEnum):
    """What the operator is doing with a node right now (`status.phase`)."""

    PENDING = "Pending"
    WAITING = "Waiting"
    JOINING = "Joining"
    RESTARTING = "Restarting"
    PUBLISHING = "Publishing"
    REBALANCING = "Rebalancing"
    CLEANING_UP = "CleaningUp"
    STOPPING = "Stopping"
    READY = "Ready"
    UPGRADING = "Upgrading"
    UNAVAILABLE = "Unavailable"  # it should serve and does not: pod not Ready, or the node does not answer
    REPLACING = "Replacing"  # its volume is being replaced (`spec.replace`) and refilled
    SHUT_DOWN = "ShutDown"
    DECOMMISSIONED = "Decommissioned"
    CLUSTER_DOWN = "ClusterShutDown"


class ClusterPhase(StrEnum):
    """The cluster's phase (`status.phase`)."""

    FORMING = "Forming"
    READY = "Ready"
    TRANSITIONING = "Transitioning"
    REBALANCING = "Rebalancing"
    UPGRADING = "Upgrading"
    SHUTTING_DOWN = "ShuttingDown"
    SHUT_DOWN = "ShutDown"
    DECOMMISSIONED = "Decommissioned"


class RebalanceState(StrEnum):
    """State of a global rebalance as the operator tracks it in the StorageCluster status."""

    RUNNING = "Running"
    COMPLETED = "Completed"
    SUPERSEDED = "Superseded"


class ConditionType(StrEnum):
    """Condition types on StorageNode and StorageCluster."""

    READY = "Ready"
    PROGRESSING = "Progressing"
    DEGRADED = "Degraded"
    REBALANCE_SKIPPED = "RebalanceSkipped"


class Reason(StrEnum):
    """Machine-readable condition reasons (CamelCase, as Kubernetes conventions want)."""

    STATE_REACHED = "StateReached"
    TRANSITION_IN_PROGRESS = "TransitionInProgress"
    WAITING_FOR_TURN = "WaitingForTurn"
    IDLE = "Idle"
    REBALANCING = "Rebalancing"
    REBALANCE_STALLED = "RebalanceStalled"
    POD_NOT_READY = "PodNotReady"
    CLUSTER_SHUT_DOWN = "ClusterShutDown"
    HEALTHY = "Healthy"
    SKIPPED_BY_REQUEST = "SkippedByRequest"
    INSUFFICIENT_CAPACITY = "InsufficientCapacity"
    ROLLING_UPDATE = "RollingUpdate"
    ROLLOUT_PAUSED = "RolloutPaused"
    ROLLOUT_STUCK = "RolloutStuck"
    NODE_NOT_ANSWERING = "NodeNotAnswering"
    REDUNDANCY_REDUCED = "RedundancyReduced"
    NODE_UNAVAILABLE = "NodeUnavailable"
    INSUFFICIENT_NODES = "InsufficientNodes"  # K copies asked, fewer nodes eligible for placement


class UpgradeStrategy(StrEnum):
    """How a node's pod is re-created at a new revision (`spec.upgrade.strategy`)."""

    DRAIN = "drain"  # maintenance, rebalance off, re-create, back online, rebalance back: no failed request
    RESTART = "restart"  # re-created in place: its objects are unreadable for the seconds it restarts
