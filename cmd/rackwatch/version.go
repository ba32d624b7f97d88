package main

import (
	"fmt"
	"runtime"

	"github.com/rackwatch/rackwatch/agent"
)

func cmdVersion(args []string) int {
	fmt.Printf("rackwatch %s %s %s/%s\n", agent.Version, runtime.Version(), runtime.GOOS, runtime.GOARCH)
	return 0
}
