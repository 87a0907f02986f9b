// Command etcd is etcd built from Go modules, so the test cluster does not
// depend on a distribution package with an outdated etcd.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
