package operator

import (
	"testing"
	"time"

	"github.com/rackwatch/rackwatch/agent/contract"
)

// BenchmarkVerifyForged is what a flood of forged commands costs the gateway: parsing and one Ed25519
// verification each, nothing written.
func BenchmarkVerifyForged(b *testing.B) {
	f := newFixture(b)
	payload := f.cmd("mallory", "alice", contract.Ack, nil)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := f.v.Verify(contract.Ack, payload, f.now); contract.ReasonOf(err) != contract.ReasonBadSignature {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerifyAccepted is an accepted command: the verification and the nonce made durable (an fsync'd
// rewrite of the store, which holds b.N nonces at most 1024).
func BenchmarkVerifyAccepted(b *testing.B) {
	f := newFixture(b)
	payloads := make([][]byte, b.N)
	for i := range payloads {
		at := f.now.Add(time.Duration(i) * time.Millisecond) // beyond 1024, the oldest is forgotten: keep them in order
		payloads[i] = f.cmd("alice", "alice", contract.Ack, func(s *contract.Signed) { s.Time = at.Format(contract.TimeFormat) })
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := f.v.Verify(contract.Ack, payloads[i], f.now.Add(time.Duration(i)*time.Millisecond)); err != nil {
			b.Fatal(err)
		}
	}
}
