// Package modbussim simulates Modbus devices, for `rackwatch sim modbus`, demos and the tests of the
// modbus driver and of the agent.
//
// Sim answers reads of a register map (a profile) with values encoded exactly as the driver decodes
// them (through modbus.CompilePoint). It serves Modbus TCP through the library's server, and Modbus RTU
// through RTUServer: the library's server speaks only TCP, so the server side of the serial framing
// (request framing, CRC, exception answers, resynchronising after noise) is implemented here. OpenPTY
// gives an RTU server a pseudo-terminal whose slave a client opens like a USB serial adapter;
// OpenSerialPort serves on a real serial device.
//
// Values is the simulation physics of `rackwatch sim modbus`: fixed values, a scenario's values and the
// channels the shipped profiles need that a scenario does not carry, derived so that a simulated UPS or
// BMS tells one consistent story. Serve puts it all together.
package modbussim
