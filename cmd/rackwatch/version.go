package main

import (
	"fmt"
	"runtime"

	"github.com/rackwatch/rackwatch/agent/buildinfo"
)

func cmdVersion(args []string) int {
	fmt.Printf("rackwatch %s %s %s/%s\n", buildinfo.Version, runtime.Version(), runtime.GOOS, runtime.GOARCH)
	return 0
}
