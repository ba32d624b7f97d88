package contract

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/rackwatch/rackwatch/agent/reading"
)

// A signed command is what an operator publishes on …/cmd/<action>: a JSON object naming the operator, the
// gateway, the action and its arguments, when it was signed and a nonce, with an Ed25519 signature over
// a canonical encoding of all of it and of the topic it is published on. The gateway takes nothing else:
// an acknowledgement or a shelve from whoever can reach a broker would silence a fire alarm.
//
// On the wire (docs/security.md):
//
//	{"v":1,"operator":"alice","gateway":"dc1-b3-battery","action":"shelve",
//	 "alarm":"batt-hot/string1/battery_temp","until":"2026-03-02T10:00:00.000Z","reason":"probe swap",
//	 "time":"2026-03-02T02:00:00.000Z","nonce":"3q2-7wAAAAB0eXBlZGJ5","sig":"<base64, 64 bytes>"}
//
// The signature covers SignedMessage: the line "rackwatch-command-v1", then one line "name=value" for
// each of topic, operator, gateway, action, alarm, until, output, for, reason, time, nonce and id, in that
// order, every line ending in "\n", each value exactly as it is in the JSON (after JSON unescaping; ""
// when absent). No value may contain a control character, so the lines cannot be confused.

// SignedDomain is the first line of every signed message: it versions the encoding and keeps a signature
// made for something else from ever passing as a command.
const SignedDomain = "rackwatch-command-v1"

// Bounds of the fields of a signed command.
const (
	maxOperator = 64
	maxReason   = 200
	maxID       = 64
	minNonce    = 16
	maxNonce    = 64
	// MaxTestFor bounds the duration of an output test asked for over MQTT (the outputs bound it again).
	MaxTestFor = time.Hour
)

// Signed is a signed operator command, as it travels.
type Signed struct {
	// Topic is the topic the command is published on (for the signer) or was received on (for the
	// gateway). It is signed, not sent: a command moved to another gateway's topic or to another action's
	// fails its signature.
	Topic    string
	Operator string
	Gateway  string
	// Action is Ack, Shelve, Unshelve or OutputTest, the same as the topic's last level.
	Action string
	// Alarm is the alarm's key (ack, shelve, unshelve).
	Alarm string
	// Until is the end of a shelve, RFC 3339.
	Until string
	// Output and For name an output to test and for how long (a Go duration such as "5s"; "" for the
	// gateway's default).
	Output string
	For    string
	// Reason is free text kept in the alarm's message ("replacing the probe").
	Reason string
	// Time is when the command was signed, RFC 3339; the gateway takes it only within its time window.
	Time string
	// Nonce makes each command unique; the gateway takes a nonce only once.
	Nonce string
	// ID is an optional correlation id echoed in the result.
	ID  string
	Sig []byte

	// Parsed forms of Time, Until and For.
	at, until time.Time
	dur       time.Duration
}

// Refusal is why a command was refused: a machine-readable Reason (one of the Reason… constants, also on
// …/cmd/result and in /metrics) and a sentence for the operator.
type Refusal struct {
	Reason string
	Detail string
}

func (r *Refusal) Error() string { return r.Detail }

// Refuse returns a Refusal for reason with a formatted detail.
func Refuse(reason, format string, args ...any) error {
	return &Refusal{Reason: reason, Detail: fmt.Sprintf(format, args...)}
}

// Reasons a command is refused, as "reason" on …/cmd/result and the reason label in /metrics.
const (
	ReasonBadCommand      = "bad_command"      // not a well-formed command
	ReasonUnsigned        = "unsigned"         // no signature at all (the old, anonymous format)
	ReasonNoOperators     = "no_operators"     // the gateway lists no operator keys
	ReasonUnknownOperator = "unknown_operator" // the operator is not listed on this gateway
	ReasonBadSignature    = "bad_signature"    // not signed by the listed key for this topic
	ReasonWrongGateway    = "wrong_gateway"    // signed for another gateway
	ReasonOutsideWindow   = "outside_window"   // signed too long ago, or in the future
	ReasonReplayed        = "replayed"         // this nonce was taken before
	ReasonUnknownAlarm    = "unknown_alarm"    // no such alarm
	ReasonUnknownOutput   = "unknown_output"   // no such output (an output test)
	ReasonNotAllowed      = "not_allowed"      // the rule forbids it (a shelve beyond shelve_max)
	ReasonFailed          = "failed"           // accepted, but carrying it out failed (an output test)
)

// Reasons lists every refusal reason, for metrics that show each one from the start.
var Reasons = []string{ReasonBadCommand, ReasonUnsigned, ReasonNoOperators, ReasonUnknownOperator, ReasonBadSignature,
	ReasonWrongGateway, ReasonOutsideWindow, ReasonReplayed, ReasonUnknownAlarm, ReasonUnknownOutput, ReasonNotAllowed, ReasonFailed}

// ReasonOf is the refusal reason of err: a Refusal's, bad_command for ErrBadCommand, unknown_alarm for
// ErrUnknownAlarm, not_allowed for ErrNotAllowed, failed otherwise; "" for nil.
func ReasonOf(err error) string {
	var r *Refusal
	switch {
	case err == nil:
		return ""
	case errors.As(err, &r):
		return r.Reason
	case errors.Is(err, ErrUnknownAlarm):
		return ReasonUnknownAlarm
	case errors.Is(err, ErrNotAllowed):
		return ReasonNotAllowed
	case errors.Is(err, ErrBadCommand):
		return ReasonBadCommand
	}
	return ReasonFailed
}

// ErrNotAllowed is a command the alarm's rule does not allow (a shelve beyond its shelve_max).
var ErrNotAllowed = errors.New("not allowed")

type signedWire struct {
	V        *int    `json:"v"`
	Operator *string `json:"operator"`
	Gateway  *string `json:"gateway"`
	Action   *string `json:"action"`
	Alarm    *string `json:"alarm"`
	Until    *string `json:"until"`
	Output   *string `json:"output"`
	For      *string `json:"for"`
	Reason   *string `json:"reason"`
	Time     *string `json:"time"`
	Nonce    *string `json:"nonce"`
	ID       *string `json:"id"`
	Sig      *string `json:"sig"`
	// By is the sender of the old, unsigned commands: recognised only to say that signing is needed.
	By *json.RawMessage `json:"by"`
}

// IsAction reports whether s is one of the command actions.
func IsAction(s string) bool {
	return s == Ack || s == Shelve || s == Unshelve || s == OutputTest
}

// ParseSigned decodes a command received on topic. It checks the form of every field, and that the
// action is the topic's; it does not check the signature, the operator, the gateway or the time (the
// gateway does, with its keys and its clock: Signed.Verify). Errors are Refusals (bad_command, or
// unsigned for a command without a signature); the Signed returned with one holds what could be read
// (its nonce and id, for the answer).
func ParseSigned(topic string, payload []byte) (Signed, error) {
	s := Signed{Topic: topic}
	action := topic[strings.LastIndexByte(topic, '/')+1:]
	bad := func(format string, args ...any) (Signed, error) {
		return s, Refuse(ReasonBadCommand, "%s: %s: %s", action, ErrBadCommand, fmt.Sprintf(format, args...))
	}
	if !IsAction(action) {
		return bad("unknown command %q (use ack, shelve, unshelve or output-test)", Printable(action))
	}
	if len(payload) > MaxCommandSize {
		return bad("payload of %d bytes is too large (at most %d)", len(payload), MaxCommandSize)
	}
	if err := exactKeys(payload); err != nil {
		return bad("%v", err)
	}
	var w signedWire
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&w); err != nil {
		return bad("payload is not the expected JSON object: %v", err)
	}
	if dec.More() {
		return bad("trailing data after the JSON object")
	}
	// What the answer echoes, when it has the right form.
	if w.ID != nil && printable(*w.ID, maxID) {
		s.ID = *w.ID
	}
	if w.Nonce != nil && validNonce(*w.Nonce) {
		s.Nonce = *w.Nonce
	}
	if w.Alarm != nil && ValidKey(*w.Alarm) {
		s.Alarm = *w.Alarm
	}
	if w.Output != nil && reading.ValidID(*w.Output) {
		s.Output = *w.Output
	}
	if w.Sig == nil {
		return s, Refuse(ReasonUnsigned, "%s: unsigned command refused: commands must be signed with an operator's key (rackwatch %s --key FILE …; docs/security.md)", action, action)
	}
	if w.By != nil {
		return bad("\"by\" is not a field of a signed command: the operator is \"operator\", checked against its key")
	}
	if w.V == nil || *w.V != 1 {
		return bad("\"v\" must be 1 (the version of the signed command format)")
	}
	str := func(p *string) string {
		if p == nil {
			return ""
		}
		return *p
	}
	s.Operator, s.Gateway, s.Action, s.Time = str(w.Operator), str(w.Gateway), str(w.Action), str(w.Time)
	s.Until, s.For, s.Reason = str(w.Until), str(w.For), str(w.Reason)
	s.Alarm, s.Output, s.Nonce, s.ID = str(w.Alarm), str(w.Output), str(w.Nonce), str(w.ID)
	if err := s.check(); err != nil {
		return bad("%v", err)
	}
	if s.Action != action {
		return bad("action %q arrived on the topic of %s", s.Action, action)
	}
	sig, err := base64.StdEncoding.Strict().DecodeString(*w.Sig)
	if err != nil || len(sig) != ed25519.SignatureSize {
		return bad("\"sig\" must be the base64 of a %d-byte Ed25519 signature", ed25519.SignatureSize)
	}
	s.Sig = sig
	return s, nil
}

// wireKeys are the keys of a command object, spelled exactly so.
var wireKeys = map[string]bool{"v": true, "operator": true, "gateway": true, "action": true, "alarm": true, "until": true,
	"output": true, "for": true, "reason": true, "time": true, "nonce": true, "id": true, "sig": true, "by": true}

// exactKeys refuses an object whose keys differ from the contract's in case, or appear twice: encoding/json
// would accept "Operator" for "operator" and keep the last of two, so another reader of the same payload
// (a dashboard, a log) could see a different command from the one the gateway verified.
func exactKeys(payload []byte) error {
	dec := json.NewDecoder(bytes.NewReader(payload))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil // not an object: the decoder says so
	}
	seen := map[string]bool{}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return nil
		}
		k, _ := t.(string)
		if !wireKeys[k] {
			return fmt.Errorf("unknown field %q", Printable(k))
		}
		if seen[k] {
			return fmt.Errorf("field %q appears twice", k)
		}
		seen[k] = true
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return nil
		}
	}
	return nil
}

// check validates the fields and parses the times, for ParseSigned and Sign.
func (s *Signed) check() error {
	switch {
	case !ValidOperator(s.Operator):
		return fmt.Errorf("\"operator\" %q: 1 to %d characters of A-Z, a-z, 0-9, '.', '_' and '-'", Printable(s.Operator), maxOperator)
	case !reading.ValidID(s.Gateway):
		return fmt.Errorf("\"gateway\" %q is not a gateway id", Printable(s.Gateway))
	case !IsAction(s.Action):
		return fmt.Errorf("\"action\" %q: use ack, shelve, unshelve or output-test", Printable(s.Action))
	case !validNonce(s.Nonce):
		return fmt.Errorf("\"nonce\" must be %d to %d characters of A-Z, a-z, 0-9, '-' and '_'", minNonce, maxNonce)
	case !printable(s.Reason, maxReason):
		return fmt.Errorf("\"reason\" must be printable text of at most %d bytes", maxReason)
	case !printable(s.ID, maxID):
		return fmt.Errorf("\"id\" must be printable and at most %d bytes", maxID)
	}
	at, err := time.Parse(time.RFC3339Nano, s.Time)
	if err != nil || at.IsZero() {
		return fmt.Errorf("\"time\" %q is not an RFC 3339 time such as \"2026-03-02T02:00:00.000Z\"", Printable(s.Time))
	}
	s.at = at
	alarm := s.Action != OutputTest
	switch {
	case alarm && !ValidKey(s.Alarm):
		return fmt.Errorf("\"alarm\" %q is not an alarm key (<rule>/<sensor>/<channel> or <rule>)", Printable(s.Alarm))
	case !alarm && s.Alarm != "":
		return fmt.Errorf("\"alarm\" does not apply to %s", s.Action)
	case alarm && (s.Output != "" || s.For != ""):
		return fmt.Errorf("\"output\" and \"for\" apply only to output-test")
	case !alarm && !reading.ValidID(s.Output):
		return fmt.Errorf("\"output\" %q is not an output id", Printable(s.Output))
	case s.Action == Shelve && s.Until == "":
		return fmt.Errorf("\"until\" is required: a shelve ends at a given time")
	case s.Action != Shelve && s.Until != "":
		return fmt.Errorf("\"until\" applies only to shelve")
	}
	s.until, s.dur = time.Time{}, 0
	if s.Until != "" {
		if s.until, err = time.Parse(time.RFC3339Nano, s.Until); err != nil || s.until.IsZero() {
			return fmt.Errorf("\"until\" %q is not an RFC 3339 time such as \"2026-03-02T10:00:00.000Z\"", Printable(s.Until))
		}
	}
	if s.For != "" {
		if s.dur, err = time.ParseDuration(s.For); err != nil || s.dur <= 0 || s.dur > MaxTestFor {
			return fmt.Errorf("\"for\" %q: a duration such as \"5s\", more than 0 and at most %s", Printable(s.For), MaxTestFor)
		}
	}
	return nil
}

// ValidOperator reports whether s may name an operator: 1 to 64 characters of A-Z, a-z, 0-9, '.', '_'
// and '-', not starting with '.' or '-' (it is also a key file's name).
func ValidOperator(s string) bool {
	if s == "" || len(s) > maxOperator || s[0] == '.' || s[0] == '-' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

func validNonce(s string) bool {
	if len(s) < minNonce || len(s) > maxNonce {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// printable reports whether s is valid UTF-8 of at most n bytes without control characters.
func printable(s string, n int) bool {
	return len(s) <= n && utf8.ValidString(s) && strings.IndexFunc(s, func(r rune) bool { return !unicode.IsPrint(r) }) < 0
}

// When is when the command was signed.
func (s *Signed) When() time.Time { return s.at }

// SignedMessage is the canonical encoding the signature covers (see the package comment above Signed). It
// fails for a topic with a control character, which no gateway's topic has.
func (s *Signed) SignedMessage() ([]byte, error) {
	if strings.IndexFunc(s.Topic, unicode.IsControl) >= 0 || !utf8.ValidString(s.Topic) {
		return nil, fmt.Errorf("contract: topic %q cannot be signed", Printable(s.Topic))
	}
	var b bytes.Buffer
	b.Grow(256 + len(s.Topic) + len(s.Reason))
	b.WriteString(SignedDomain)
	b.WriteByte('\n')
	for _, f := range [...]struct{ name, v string }{
		{"topic", s.Topic}, {"operator", s.Operator}, {"gateway", s.Gateway}, {"action", s.Action},
		{"alarm", s.Alarm}, {"until", s.Until}, {"output", s.Output}, {"for", s.For}, {"reason", s.Reason},
		{"time", s.Time}, {"nonce", s.Nonce}, {"id", s.ID},
	} {
		b.WriteString(f.name)
		b.WriteByte('=')
		b.WriteString(f.v)
		b.WriteByte('\n')
	}
	return b.Bytes(), nil
}

// Sign checks the command's fields and signs it with key.
func (s *Signed) Sign(key ed25519.PrivateKey) error {
	if len(key) != ed25519.PrivateKeySize {
		return errors.New("contract: not an Ed25519 private key")
	}
	if err := s.check(); err != nil {
		return fmt.Errorf("contract: %w", err)
	}
	if t := s.Topic[strings.LastIndexByte(s.Topic, '/')+1:]; t != s.Action {
		return fmt.Errorf("contract: a %s command goes on …/cmd/%s, not on %s", s.Action, s.Action, s.Topic)
	}
	msg, err := s.SignedMessage()
	if err != nil {
		return err
	}
	s.Sig = ed25519.Sign(key, msg)
	return nil
}

// Verify reports whether the command's signature is key's over its canonical encoding.
func (s *Signed) Verify(key ed25519.PublicKey) bool {
	if len(key) != ed25519.PublicKeySize || len(s.Sig) != ed25519.SignatureSize {
		return false
	}
	msg, err := s.SignedMessage()
	return err == nil && ed25519.Verify(key, msg, s.Sig)
}

// JSON is the command's payload, as ParseSigned reads it.
func (s *Signed) JSON() []byte {
	b, _ := json.Marshal(signedOut{V: 1, Operator: s.Operator, Gateway: s.Gateway, Action: s.Action, Alarm: s.Alarm,
		Until: s.Until, Output: s.Output, For: s.For, Reason: s.Reason, Time: s.Time, Nonce: s.Nonce, ID: s.ID,
		Sig: base64.StdEncoding.EncodeToString(s.Sig)})
	return b
}

// signedOut is the wire form in the order the documentation shows, optional fields left out.
type signedOut struct {
	V        int    `json:"v"`
	Operator string `json:"operator"`
	Gateway  string `json:"gateway"`
	Action   string `json:"action"`
	Alarm    string `json:"alarm,omitempty"`
	Until    string `json:"until,omitempty"`
	Output   string `json:"output,omitempty"`
	For      string `json:"for,omitempty"`
	Reason   string `json:"reason,omitempty"`
	Time     string `json:"time"`
	Nonce    string `json:"nonce"`
	ID       string `json:"id,omitempty"`
	Sig      string `json:"sig"`
}

// NewNonce returns a fresh random nonce (128 bits, base64url).
func NewNonce() string {
	var b [16]byte
	rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// Command is what the signed command asks for, with By set to its operator. Call it only once the
// signature, the operator, the gateway, the time and the nonce have been verified: By is then the
// verified operator, which the alarm keeps (acked_by, shelved_by) and its message names.
func (s *Signed) Command() Command {
	return Command{Kind: s.Action, Alarm: s.Alarm, By: s.Operator, Until: s.until, Output: s.Output, For: s.dur,
		Reason: s.Reason, At: s.at, ID: s.ID, Nonce: s.Nonce}
}

// Unverified is the command as far as it could be read, with no operator: for answering a refusal.
func (s *Signed) Unverified() Command {
	c := Command{Kind: s.Action, Alarm: s.Alarm, Output: s.Output, ID: s.ID, Nonce: s.Nonce}
	if c.Kind == "" {
		c.Kind = s.Topic[strings.LastIndexByte(s.Topic, '/')+1:]
	}
	return c
}
