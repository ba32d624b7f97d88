// Package sgp30 reads the Sensirion SGP30 metal-oxide gas sensor (address 0x58): TVOC (ppb) and eCO2
// (ppm), and optionally its raw H2 and ethanol signals. Electrolyte off-gas from a failing lithium-ion
// or VRLA battery shows up as VOC and H2 before smoke does.
//
// Datasheet: Sensirion SGP30 v0.9, 6.3-6.6: get_feature_set 0x202F (product type in bits 15:12 is 0 for
// an SGP30; the identity check), sgp30_iaq_init 0x2003, sgp30_measure_iaq 0x2008 (12 ms; eCO2 then
// TVOC), sgp30_measure_raw 0x2050 (25 ms; H2 then ethanol signal, in ticks). measure_iaq must be sent
// every second for the on-chip dynamic baseline, so the sensor must be polled with `every: 1s`; during
// the first 15 s after iaq_init the chip returns fixed 400 ppm / 0 ppb, which are reported as bad
// ("warming up"), not as clean air.
//
// Written here rather than through periph's devices/sgp30, which sleeps 20 s inside its constructor,
// runs its own ticker goroutine that logs failures with log.Print and never reports them, and does not
// check CRCs. The baseline is not saved across restarts: after a restart the chip re-learns it (the
// datasheet allows up to 12 h), so absolute values drift for a while while step changes still show.
package sgp30
