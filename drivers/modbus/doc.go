// Package modbus reads Modbus RTU (RS-485) and Modbus TCP devices — UPSs, battery BMSs, PDUs, cooling
// units — from register maps written in the config or kept as named profiles.
//
// It registers the bus types modbus-rtu and modbus-tcp and the driver modbus. A bus (Bus) owns one
// client of github.com/simonvetter/modbus and serialises "select unit, send request" for every device
// on the line; it opens lazily and reconnects with backoff. A device (Device) merges its registers into
// as few requests as the device's request limit allows, decodes them with the pure functions of
// decode.go (every type and word order), and backs off on its own when it stops answering, so one dead
// unit never stalls the others on a shared line.
//
// Simulated devices (`rackwatch sim modbus`, and the RTU tests' server) live in the subpackage modbussim,
// so the driver does not link what only a simulator needs (pseudo-terminals, the server side of RTU
// framing). CompilePoint gives the simulator the driver's own reading of a register map, to encode values
// exactly as Device decodes them.
//
// Wiring, permissions, every config key and troubleshooting are in docs/modbus.md.
package modbus
