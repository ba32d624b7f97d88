// Package scd4x reads the Sensirion SCD40/SCD41 photoacoustic NDIR CO2 sensor (address 0x62), with its
// temperature and humidity, and derives the dew point.
//
// Datasheet: Sensirion SCD4x, 3.5-3.9. The sensor runs in periodic mode and produces a measurement
// every 5 s: stop_periodic_measurement 0x3F86 (then 500 ms), get_serial_number 0x3682 (the identity
// check: three CRC-checked words), start_periodic_measurement 0x21B1, get_data_ready_status 0xE4B8 (ready
// when the low 11 bits are not 0), read_measurement 0xEC05 (CO2 ppm; T = -45 + 175 S/65535;
// RH = 100 S/65535). Each command is followed by a 1 ms execution time before the read.
//
// Written here rather than through periph's devices/scd4x, whose first Sense sleeps 5 s and whose every
// Sense may wait up to 6 s more for data-ready, all with time.Sleep that the scheduler's timeout cannot
// interrupt. Here a poll that finds no new measurement repeats the last one if it is younger than two
// periods (the sensor's 5 s period and the agent's poll drift against each other), and is otherwise a
// bad reading that does not restart the sensor.
package scd4x
