package rules

import (
	"sort"
	"testing"
	"time"

	"github.com/rackwatch/rackwatch/agent/reading"
)

// Every alarm is listed before it ever rises, internal rules' excepted.
func TestAlarmsListsEveryAlarm(t *testing.T) {
	above := 30.0
	rs := []Rule{
		{ID: "hot", Match: &Match{Channel: "temperature"}, Above: &above, Severity: "warning"},
		{ID: "seen", Any: []string{"hot"}, Internal: true},
		{ID: "fire", All: []string{"seen"}, Severity: "critical"},
	}
	for i := range rs {
		rs[i].ApplyDefaults()
	}
	e, err := New(rs, Options{Gateway: "gw", Sensors: []Sensor{{ID: "a", Every: time.Second, Channels: []Channel{{Name: reading.Temperature, Unit: "°C"}}}}})
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, a := range e.Alarms(nil) {
		keys = append(keys, a.Key+":"+a.State)
	}
	sort.Strings(keys)
	if len(keys) != 2 || keys[0] != "fire:cleared" || keys[1] != "hot/a/temperature:cleared" {
		t.Errorf("alarms %v", keys)
	}
}
