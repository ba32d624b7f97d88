package contract

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestResult(t *testing.T) {
	c := Command{Kind: Shelve, Alarm: "warm/r1.inlet/temperature", ID: "c-1"}
	var ok map[string]any
	if err := json.Unmarshal(NewResult(c, nil).JSON(), &ok); err != nil || ok["ok"] != true || ok["alarm"] != c.Alarm || ok["id"] != "c-1" || ok["error"] != nil {
		t.Fatalf("%v %v", ok, err)
	}
	_, err := ParseSigned("rackwatch/gw/cmd/ack", []byte(`{`))
	var bad map[string]any
	if json.Unmarshal(NewResult(Command{Kind: Ack}, err).JSON(), &bad); bad["ok"] != false || !strings.Contains(bad["error"].(string), "bad command") {
		t.Fatalf("%v", bad)
	}
}
