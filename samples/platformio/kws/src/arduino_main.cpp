// Entry point for Arduino frameworks (ESP32, STM32duino, RP2040, ...); other
// frameworks and the native build use main() in main.c.
#ifdef ARDUINO
#include <Arduino.h>

extern "C" int kws_demo(void);

void setup()
{
    Serial.begin(115200);
    delay(2000); // give the serial monitor time to attach
    kws_demo();
}

void loop() { delay(1000); }
#endif
