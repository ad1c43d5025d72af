// Entry point of the test for Arduino frameworks; see test_main.c.
#ifdef ARDUINO
#include <Arduino.h>

extern "C" int runUnityTests(void);

void setup()
{
    delay(2000); // boards that reset on serial connection need a moment
    runUnityTests();
}

void loop() {}
#endif
