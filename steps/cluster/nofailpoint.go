//go:build !failpoint

package cluster

func beforeMirrorWrite() {}
