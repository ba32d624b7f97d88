// Package operator is who may command a gateway, and the check that a command came from one of them: the
// operators' Ed25519 key files (made by `rackwatch key new`), the keyring a gateway builds from its config
// (operators and operators_dir), the Verifier that turns a signed command received over MQTT into a
// command by a named operator or a refusal with its reason, and the nonce store in state_dir that refuses
// a command replayed, even after a restart.
//
// A command that is not signed by a listed operator changes nothing: an acknowledgement or a shelve from
// whoever can reach a broker would silence a fire alarm. The signed format itself is the MQTT contract's
// (agent/contract, Signed).
package operator
