/* SPDX-License-Identifier: MIT */
/*
 * The serial family's CUSE backend decodes the termios an app hands
 * TCSETS / TCSETS2 (through the kernel, unchecked) into the line settings
 * the driver's set_line gets (families/serial/driver/pty.c).  The first
 * byte chooses TCSETS (even) or TCSETS2 (odd); the rest is the struct.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../families/serial/driver/serial-private.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	_Alignas(8) unsigned char in[PTY_TERMIOS_SIZE] = { 0 }, out[PTY_TERMIOS_SIZE], old[PTY_TERMIOS_SIZE] = { 0 };
	struct udk_serial_line line, again;
	bool two;

	if (size < 1)
		return 0;
	two = data[0] & 1;
	memcpy(in, data + 1, size - 1 < serial_termios_size(two) ? size - 1 : serial_termios_size(two));
	/* an old state with 9600 baud (a TCSETS with BOTHER keeps it) */
	serial_termios_from_app(in, false, old, old);
	serial_termios_from_app(in, two, old, out);
	pty_decode(out, &line);
	if (line.data_bits < 5 || line.data_bits > 8 || line.parity > UDK_SERIAL_PARITY_SPACE || line.stop_bits < 1 ||
	    line.stop_bits > 2)
		abort();
	/* what TCGETS gives back decodes to the same settings */
	serial_termios_normalize(out);
	pty_decode(out, &again);
	if (memcmp(&line, &again, sizeof(line)) != 0)
		abort();
	return 0;
}
