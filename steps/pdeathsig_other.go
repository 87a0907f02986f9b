//go:build unix && !linux

package steps

import "syscall"

// Only Linux can tie a child's life to its parent's.
func dieWithParent(*syscall.SysProcAttr) {}
