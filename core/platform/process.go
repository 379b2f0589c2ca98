package platform

// ProcessAlive reports whether pid is a running process of the same program
// as this one (a pid reused by another program after a crash is not):
// VNet's root helper asks it of the helper that wrote a state file.
func ProcessAlive(pid int) bool { return processAlive(pid) }
