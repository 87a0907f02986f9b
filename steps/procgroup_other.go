//go:build !unix

package steps

import "os/exec"

// Without process groups only the direct child can be killed; children it
// started may outlive a timeout.
func ownProcessGroup(*exec.Cmd) {}

func killProcessGroup(cmd *exec.Cmd) error { return cmd.Process.Kill() }
