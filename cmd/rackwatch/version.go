package main

import (
	"fmt"
	"runtime"
	"strings"

	"github.com/rackwatch/rackwatch/agent"
	"github.com/rackwatch/rackwatch/agent/buildinfo"
)

func cmdVersion(args []string) int {
	fmt.Printf("rackwatch %s %s %s/%s\n", buildinfo.Version, runtime.Version(), runtime.GOOS, runtime.GOARCH)
	out := append(leftOutFamilies(), agent.LeftOut()...)
	if !pagerBuilt {
		out = append(out, "the pager")
	}
	if len(out) > 0 {
		// A smaller build (make release-min): say what it cannot do.
		fmt.Printf("built without %s\n", strings.Join(out, ", "))
	}
	return 0
}
