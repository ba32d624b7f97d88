//go:build nopager

package main

import (
	"fmt"
	"io"
)

const pagerBuilt = false

// checkPager refuses a pager config in a build without the pager: this binary cannot run it.
func checkPager(path string, _, stderr io.Writer) int {
	fmt.Fprintf(stderr, "%s: a `rackwatch pager` config, but this rackwatch was built without the pager (build tag nopager); check it with the full build\n", path)
	return 2
}
