package delivery

import (
	"encoding/json"
	"fmt"

	"github.com/rackwatch/rackwatch/agent/contract"
	"github.com/rackwatch/rackwatch/agent/journal"
)

// Actions appends action events (what the gateway did to its outputs) to the journal and returns once
// they are on disk, like Transitions. They travel the same durable path, in journal order with the alarm
// transitions, but only to …/events: an action has no retained state topic. Under pressure the journal
// coalesces older events of the same output, never its latest.
func (d *Delivery) Actions(as []contract.Action) error {
	if len(as) == 0 {
		return nil
	}
	recs := make([]journal.Record, len(as))
	for i := range as {
		b, err := json.Marshal(as[i])
		if err != nil {
			return fmt.Errorf("delivery: %w", err)
		}
		recs[i] = journal.Record{Time: as[i].Time, Key: contract.ActionKey(as[i].Output), Data: b}
	}
	if err := d.j.Append(recs); err != nil {
		return fmt.Errorf("delivery: %w", err)
	}
	for _, t := range d.targets {
		t.poke()
	}
	return nil
}
