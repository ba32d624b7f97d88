package main

import "testing"

func TestPackageOf(t *testing.T) {
	for name, want := range map[string]string{
		"net/http.(*conn).serve": "net/http",
		"runtime.mallocgc":       "runtime",
		"type:*github.com/rackwatch/rackwatch/agent/rules.Rule":     "github.com/rackwatch/rackwatch/agent/rules",
		"type:[]*github.com/x/y.T":                                  "github.com/x/y",
		"go:itab.*os.File,io.Writer":                                "os",
		"github.com/eclipse/paho%2emqtt%2egolang.(*client).Connect": "github.com/eclipse/paho.mqtt.golang",
		"go:string.*":                          "(go:string)",
		"go:func.*":                            "(go:func)",
		"type:map[string]int":                  "(map[string]int)",
		"vendor/golang.org/x/net/idna.ToASCII": "vendor/golang.org/x/net/idna",
	} {
		if got := packageOf(name); got != want {
			t.Errorf("packageOf(%q) = %q, want %q", name, got, want)
		}
	}
}
