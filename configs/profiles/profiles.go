// Package profiles carries the Modbus register-map profiles shipped with rackwatch (the YAML files in
// this directory), compiled into the binary so that `profile: ups` works on a gateway that has only the
// executable. Users add their own profiles as files; see docs/modbus.md.
package profiles

import "embed"

// FS holds the built-in profiles, one NAME.yaml per profile.
//
//go:embed *.yaml
var FS embed.FS
