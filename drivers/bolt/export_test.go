package bolt

// SetTestHookQueued sets testHookQueued; nil clears it.
func SetTestHookQueued(f func()) { testHookQueued = f }
