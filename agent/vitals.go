package agent

import (
	"time"

	"github.com/rackwatch/rackwatch/agent/contract"
)

// Vitals is what the agent's loop reports at every tick (Options.Alive): proof that it turns, and the
// figures a service manager's status line shows.
type Vitals struct {
	// At is the time of the tick.
	At time.Time
	// Active counts the alarms whose condition is active now; Critical those of them that are critical.
	Active, Critical int
	// Brokers is how many brokers alarms go to (the embedded one included); Connected how many of them
	// are connected now.
	Brokers, Connected int
}

// connectedCounter is the part of a Monitor that counts connected brokers (the MQTT delivery has it).
type connectedCounter interface {
	Connected() (up, total int)
}

// vitals runs on the loop, which is the only writer of a.active, so it reads without the lock.
func (a *runner) vitals(now time.Time) Vitals {
	v := Vitals{At: now}
	for _, al := range a.active {
		if al.State == contract.Active {
			v.Active++
			if al.Severity == contract.Critical {
				v.Critical++
			}
		}
	}
	if c, ok := a.out.Monitor.(connectedCounter); ok {
		v.Connected, v.Brokers = c.Connected()
	}
	return v
}
