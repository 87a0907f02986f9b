//go:build !unix

package journal

// pidAlive cannot check liveness here, so it trusts the record: naming a
// possibly stale holder beats naming none.
func pidAlive(pid int) bool { return true }
