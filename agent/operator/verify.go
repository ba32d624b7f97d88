package operator

import (
	"fmt"
	"time"

	"github.com/rackwatch/rackwatch/agent/contract"
)

// DefaultWindow is how far a command's signing time may be from the gateway's clock, either way.
const DefaultWindow = 5 * time.Minute

// Verifier checks signed commands for one gateway.
type Verifier struct {
	// Topics are the gateway's topics: a command is verified against the topic it was received on.
	Topics  contract.Topics
	Gateway string
	Keys    *Keyring
	// Window is how far from now a command's time may be (DefaultWindow when 0).
	Window time.Duration
	Nonces *Nonces
}

// Verify checks a command received on …/cmd/<action> at now and returns what it asks for, by its verified
// operator; or, with a Refusal, as much of it as could be read (no operator) for the answer. In order, a
// command is refused when it is malformed or unsigned, is for another gateway, when the gateway lists no
// operators or not this one, when the signature is not that operator's over this topic, when it was
// signed outside the time window, or when its nonce was taken before. Only a command that passes every
// check consumes its nonce.
func (v *Verifier) Verify(action string, payload []byte, now time.Time) (contract.Command, error) {
	s, err := contract.ParseSigned(v.Topics.Command(action), payload)
	if err != nil {
		return s.Unverified(), err
	}
	refuse := func(reason, format string, args ...any) (contract.Command, error) {
		return s.Unverified(), contract.Refuse(reason, "%s %s: %s", s.Action, describe(&s), fmt.Sprintf(format, args...))
	}
	if s.Gateway != v.Gateway {
		return refuse(contract.ReasonWrongGateway, "signed for gateway %s, and this is %s", s.Gateway, v.Gateway)
	}
	if v.Keys.Len() == 0 {
		return refuse(contract.ReasonNoOperators, "this gateway lists no operators, so it takes no commands; make a key with `rackwatch key new NAME` and list NAME.pub under operators: or put it in operators_dir (docs/security.md)")
	}
	pk, ok := v.Keys.Key(s.Operator)
	if !ok {
		return refuse(contract.ReasonUnknownOperator, "operator %s is not listed on this gateway (operators, operators_dir)", s.Operator)
	}
	if !s.Verify(pk) {
		return refuse(contract.ReasonBadSignature, "the signature is not operator %s's (key %s) over this command and topic %s", s.Operator, Fingerprint(pk), s.Topic)
	}
	w := v.Window
	if w <= 0 {
		w = DefaultWindow
	}
	if d := now.Sub(s.When()); d > w || d < -w {
		return refuse(contract.ReasonOutsideWindow, "signed at %s, %s from this gateway's clock (%s); it takes commands signed within %s: check both clocks (NTP)",
			s.When().UTC().Format(contract.TimeFormat), skew(d), now.UTC().Format(contract.TimeFormat), w)
	}
	if v.Nonces != nil {
		if err := v.Nonces.take(s.Operator, s.Nonce, s.When(), now, w); err != nil {
			return s.Unverified(), err
		}
	}
	return s.Command(), nil
}

func describe(s *contract.Signed) string {
	if s.Action == contract.OutputTest {
		return s.Output
	}
	return s.Alarm
}

func skew(d time.Duration) string {
	if d < 0 {
		return (-d).Round(time.Second).String() + " ahead"
	}
	return d.Round(time.Second).String() + " behind"
}
