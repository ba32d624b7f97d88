package pager

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/rackwatch/rackwatch/agent/contract"
)

// Bounds on what the pager accepts from a broker: a real alarm object is under 1 KiB, a status under 200
// bytes. Anything bigger is refused before it is decoded.
const (
	maxAlarmPayload  = 64 << 10
	maxStatusPayload = 4 << 10
	maxLabels        = 64
	maxText          = 4 << 10
)

var errInvalid = errors.New("not a valid message of the rackwatch contract")

// parseStatus decodes a …/status payload. An empty payload is a deleted retained status: nil, nil.
func parseStatus(payload []byte) (*contract.Status, error) {
	if len(payload) == 0 {
		return nil, nil
	}
	if len(payload) > maxStatusPayload {
		return nil, fmt.Errorf("%w: status of %d bytes", errInvalid, len(payload))
	}
	var s contract.Status
	if err := json.Unmarshal(payload, &s); err != nil {
		return nil, fmt.Errorf("%w: status: %v", errInvalid, err)
	}
	if s.State != contract.Online && s.State != contract.Offline {
		return nil, fmt.Errorf("%w: status state %q", errInvalid, contract.Printable(s.State))
	}
	return &s, nil
}

// parseAlarm decodes an alarm object that arrived on a topic of gateway (on …/alarms/<key> when key is
// not "", on …/events otherwise) and checks that it is one: it names that gateway (and that alarm), has a
// known state and severity, and its episode is not after its own seq. An empty payload (a deleted retained
// state) is nil, nil.
func parseAlarm(gateway, key string, payload []byte) (*contract.Alarm, error) {
	if len(payload) == 0 {
		return nil, nil
	}
	if len(payload) > maxAlarmPayload {
		return nil, fmt.Errorf("%w: alarm of %d bytes", errInvalid, len(payload))
	}
	var a contract.Alarm
	if err := json.Unmarshal(payload, &a); err != nil {
		return nil, fmt.Errorf("%w: alarm: %v", errInvalid, err)
	}
	switch {
	case a.Gateway != gateway:
		return nil, fmt.Errorf("%w: alarm of gateway %q on a topic of %q", errInvalid, contract.Printable(a.Gateway), gateway)
	case !contract.ValidKey(a.Key):
		return nil, fmt.Errorf("%w: alarm key %q", errInvalid, contract.Printable(a.Key))
	case key != "" && a.Key != key:
		return nil, fmt.Errorf("%w: alarm %q on the topic of %q", errInvalid, a.Key, key)
	case a.State != contract.Active && a.State != contract.Cleared:
		return nil, fmt.Errorf("%w: alarm state %q", errInvalid, contract.Printable(a.State))
	case a.Severity != contract.Info && a.Severity != contract.Warning && a.Severity != contract.Critical:
		return nil, fmt.Errorf("%w: alarm severity %q", errInvalid, contract.Printable(a.Severity))
	case a.Episode > a.Seq:
		return nil, fmt.Errorf("%w: alarm episode %d after its seq %d", errInvalid, a.Episode, a.Seq)
	case len(a.Labels) > maxLabels:
		return nil, fmt.Errorf("%w: %d labels", errInvalid, len(a.Labels))
	case len(a.Message) > maxText || len(a.Site) > 256 || len(a.AckedBy) > 256 || len(a.Unit) > 64:
		return nil, fmt.Errorf("%w: oversized text field", errInvalid)
	}
	for k, v := range a.Labels {
		if len(k) > 256 || len(v) > 256 {
			return nil, fmt.Errorf("%w: oversized label", errInvalid)
		}
	}
	return &a, nil
}
