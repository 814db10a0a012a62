// Command etcd is etcd's own server entry point (etcdmain.Main), built from
// the pinned go.etcd.io/etcd/server/v3 module for hack/kube.sh.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
