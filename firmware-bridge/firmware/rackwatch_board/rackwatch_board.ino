// rackwatch_board: the reference firmware for an Arduino-class board. All the protocol logic lives in the
// portable core (rwproto.c); this sketch only wires it to pins. Run `make arduino` in firmware/ to copy the
// core next to this file, then open the folder in the Arduino IDE (or arduino-cli compile).
//
// Wiring of this example (change the table and the pins to match your board):
//   D2  smoke detector relay contact to GND (normally open; closed = smoke), internal pull-up
//   A0  hydrogen sensor analog output, 0–5 V = 0–1000 ppm
//   A1  TMP36 temperature sensor, 10 mV/°C with 500 mV at 0 °C
//   D8  relay board driving the sounder (HIGH = on)
#include "rwproto.h"

static const uint8_t PIN_SMOKE = 2;
static const uint8_t PIN_H2 = A0;
static const uint8_t PIN_TEMP = A1;
static const uint8_t PIN_SOUNDER = 8;
// For RS-485 through a MAX485/MAX3485, define the pin wired to DE and /RE (tied together), e.g.
//   #define RS485_DE_PIN 4
// The transceiver then drives the pair only while the board sends.

// Channel indexes are positions in this table; the host learns it in the handshake.
static const rw_channel channels[] = {
  {"temperature", "C", RW_AI},  // 0
  {"smoke", "-", RW_DI},        // 1
  {"h2", "ppm", RW_AI},         // 2
  {"sounder", "-", RW_DO},      // 3
};

static rw_board board;

static void lineWrite(void *, const uint8_t *b, size_t n) {
#ifdef RS485_DE_PIN
  digitalWrite(RS485_DE_PIN, HIGH);
  Serial.write(b, n);
  Serial.flush();  // wait until the last stop bit is out before releasing the pair
  digitalWrite(RS485_DE_PIN, LOW);
#else
  Serial.write(b, n);
#endif
}

static void setOutput(void *, uint8_t idx, int32_t milli) {
  if (idx == 3) digitalWrite(PIN_SOUNDER, milli > 0 ? HIGH : LOW);
}

static const rw_board_config config = {
  "batt-room-3",   // board id: make it unique per board
  "1.0.0",         // firmware version
  channels, sizeof channels / sizeof channels[0],
  lineWrite, setOutput, NULL, NULL, 0,
};

void setup() {
#ifdef RS485_DE_PIN
  pinMode(RS485_DE_PIN, OUTPUT);
  digitalWrite(RS485_DE_PIN, LOW);
#endif
  pinMode(PIN_SMOKE, INPUT_PULLUP);
  pinMode(PIN_SOUNDER, OUTPUT);
  digitalWrite(PIN_SOUNDER, LOW);
  Serial.begin(115200);
  rw_init(&board, &config, millis());
  // A compiled-in fail-safe protects the room even before a host has ever connected: smoke with the host
  // silent for 30 s switches the sounder on. The host's FS command replaces it.
  rw_set_failsafe(&board, 1, 0, 500, 3, 30000);
}

static uint32_t lastAnalog, smokeChanged;
static int smokeRaw = -1, smokeStable = -1;

void loop() {
  uint32_t now = millis();
  int c;
  while ((c = Serial.read()) >= 0) {
    uint8_t b = (uint8_t)c;
    rw_feed(&board, &b, 1, now);
  }

  // Debounce the contact for 50 ms; the core sends a changed digital input at once.
  int s = digitalRead(PIN_SMOKE) == LOW ? 1 : 0;
  if (s != smokeRaw) {
    smokeRaw = s;
    smokeChanged = now;
  }
  if (smokeRaw != smokeStable && now - smokeChanged >= 50) {
    smokeStable = smokeRaw;
    rw_set_value(&board, 1, smokeStable ? 1000 : 0, now);
  }

  if (now - lastAnalog >= 200) {
    lastAnalog = now;
    // Integer arithmetic in thousandths: no floating point needed on an 8-bit board.
    int32_t h2 = (int32_t)analogRead(PIN_H2) * 1000000L / 1023;          // ppm × 1000
    int32_t mv = (int32_t)analogRead(PIN_TEMP) * 5000L / 1023;           // millivolts
    rw_set_value(&board, 2, h2, now);
    rw_set_value(&board, 0, (mv - 500) * 100, now);                      // °C × 1000
  }

  rw_poll(&board, now);
}
