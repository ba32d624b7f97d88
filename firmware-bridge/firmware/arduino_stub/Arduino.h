/* Just enough of the Arduino API to compile the sketch on the host (make sketch), so a change to the core
 * that breaks the sketch is caught without an Arduino toolchain. Nothing here runs. */
#ifndef ARDUINO_STUB_H
#define ARDUINO_STUB_H
#include <stddef.h>
#include <stdint.h>
#define A0 14
#define A1 15
#define HIGH 1
#define LOW 0
#define INPUT_PULLUP 2
#define OUTPUT 1
struct StubSerial {
	void begin(long) {}
	int read() { return -1; }
	size_t write(const uint8_t *, size_t n) { return n; }
	void flush() {}
};
extern StubSerial Serial;
void pinMode(uint8_t, uint8_t);
void digitalWrite(uint8_t, uint8_t);
int digitalRead(uint8_t);
int analogRead(uint8_t);
uint32_t millis();
#endif
