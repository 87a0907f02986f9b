package steps

import "syscall"

// dieWithParent has the kernel kill the child when cairn dies without a
// chance to cancel (SIGKILL, OOM). An orphan that finished its side effect
// after the resume's check looked for it would apply that effect twice.
// The signal follows the thread that forked, so Run keeps its goroutine on
// one thread from Start to Wait.
func dieWithParent(a *syscall.SysProcAttr) { a.Pdeathsig = syscall.SIGKILL }
