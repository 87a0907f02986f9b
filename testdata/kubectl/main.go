// Command kubectl is the real kubectl: the main of k8s.io/kubernetes's
// cmd/kubectl (Copyright 2014 The Kubernetes Authors, Apache License 2.0),
// built from the k8s.io/kubectl module at the release the local control
// plane runs, by build.sh. Tests whose playbooks run plain `kubectl` put it
// first on PATH.
package main

import (
	"os"

	"k8s.io/component-base/cli"
	"k8s.io/component-base/logs"
	"k8s.io/kubectl/pkg/cmd"
	"k8s.io/kubectl/pkg/cmd/util"

	// Import to initialize client auth plugins.
	_ "k8s.io/client-go/plugin/pkg/client/auth"
)

func main() {
	// As upstream: the verbosity is set before the command is built, so
	// that klog works while kubectl reads plugins and .kuberc.
	logs.GlogSetter(cmd.GetLogVerbosity(os.Args)) // nolint:errcheck
	command := cmd.NewDefaultKubectlCommand()
	if err := cli.RunNoErrOutput(command); err != nil {
		// Pretty-print the error and exit with an error.
		util.CheckErr(err)
	}
}
