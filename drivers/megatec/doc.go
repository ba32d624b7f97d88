// Package megatec reads a UPS over the Megatec "Q1" serial protocol (2400 bit/s 8N1), which most small
// line-interactive and on-line UPSes with an RS-232 port or a USB-serial cable speak.
//
// The protocol (megatec.txt as kept by Network UPS Tools, rev 2.7) is a request line ending in CR and one
// reply line ending in CR: `Q1` gives input, output and battery voltages, load, frequency, temperature and
// eight status bits; `F` gives the rated values, from which a charge estimate and the cell count of
// on-line units (which report volts per cell) are derived; `I` identifies the unit. A UPS answers a
// command it does not know by echoing it back. The protocol reports no charge, no runtime and no
// replace-battery flag: charge is estimated from the battery voltage, runtime only when the operator gives
// the battery's runtime at full and half load, and replace_battery is not produced.
//
// Lines that are malformed, short (cut off by a timeout or noise) or echoed are rejected, counted per kind,
// logged once per kind and the command is retried; the stream resynchronises on the next CR.
package megatec
