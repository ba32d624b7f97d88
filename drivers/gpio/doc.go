// Package gpio is the `gpio-input` driver: a dry contact (smoke-detector relay, leak-cable controller,
// door reed switch, UPS alarm relay) on a GPIO pin, read by edge interrupt through the Linux GPIO
// character device (periph host/gpioioctl), not by polling.
//
// It is a driver.Streamer. An edge is emitted as a 0/1 sample at once, so it reaches the rules engine
// without waiting for a poll. The current level is also emitted when the stream starts and again every
// `every` (default 5s) so staleness rules see a live input and a missed edge is corrected.
//
// Debounce is a lock-out after an edge, not a delay before it: the first edge is emitted immediately, the
// contact bounce that follows it for `debounce` is ignored, and at the end of that window the pin is read
// again and the level emitted if it differs. This keeps the alarm path fast (a relay's bounce lasts a few
// milliseconds, a smoke alarm must not wait for it) while never leaving a wrong final level. A glitch on
// a long cable that is shorter than `debounce` shows as a 1 followed by a 0; filter such lines in the rule
// with `for:` rather than here.
//
// periph's gpioreg is not used to find pins: when both the sysfs and the ioctl GPIO drivers are loaded
// the same name can be registered by either, so pins are looked up on the GPIO chips gpioioctl found.
package gpio
