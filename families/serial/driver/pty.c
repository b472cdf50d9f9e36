/* SPDX-License-Identifier: MIT */
/*
 * serial/driver/pty.c - the pty backend's termios side: reading the line
 * settings an app put on the slave, from the master, and putting old ones
 * back.  Kept apart from serial.c because the kernel's struct termios2
 * (<asm/termbits.h>, exact baud rates) cannot share a file with glibc's
 * <termios.h>.
 *
 * How the driver hears about tcsetattr within milliseconds: the master is
 * in packet mode (TIOCPKT) and the slave carries EXTPROC.  With both, the
 * kernel's pty_set_termios() flags TIOCPKT_IOCTL on every termios change
 * of the slave and wakes the master's poll (POLLPRI); the family then
 * reads the slave's settings through the master (TCGETS2 on a master
 * reads its slave's termios).  An app that clears EXTPROC still gives one
 * last TIOCPKT_IOCTL; from then on serial.c polls the settings every
 * 5 ms until EXTPROC is back (docs/families/serial.md).
 */
#include <asm/ioctls.h>
#include <asm/termbits.h>
#include <errno.h>
#include <string.h>

#include <udk/families/serial.h>

#include "serial-private.h"

int ioctl(int fd, unsigned long request, ...);

/* The line-setting bits of termios: what a refusal puts back. */
#define LINE_CFLAG (CBAUD | CBAUDEX | CSIZE | CSTOPB | PARENB | PARODD | CMSPAR | CRTSCTS | CREAD | (CBAUD << IBSHIFT))
#define LINE_IFLAG (IXON | IXOFF)

struct pty_termios {
	struct termios2 t;
};

_Static_assert(sizeof(struct pty_termios) <= PTY_TERMIOS_SIZE, "pty_termios fits");

#define speed_code serial_speed_code

int
pty_get(int master, void *buf)
{
	struct pty_termios *pt = buf;

	memset(pt, 0, PTY_TERMIOS_SIZE);
	if (ioctl(master, TCGETS2, &pt->t) < 0)
		return -errno;
	return 0;
}

bool
pty_same_line(const void *a, const void *b)
{
	const struct termios2 *x = &((const struct pty_termios *)a)->t, *y = &((const struct pty_termios *)b)->t;

	return (x->c_cflag & LINE_CFLAG) == (y->c_cflag & LINE_CFLAG) &&
	       (x->c_iflag & LINE_IFLAG) == (y->c_iflag & LINE_IFLAG) && x->c_ospeed == y->c_ospeed &&
	       x->c_ispeed == y->c_ispeed && x->c_cc[VSTART] == y->c_cc[VSTART] && x->c_cc[VSTOP] == y->c_cc[VSTOP];
}

bool
pty_has_extproc(const void *buf)
{
	return ((const struct pty_termios *)buf)->t.c_lflag & EXTPROC;
}

void
pty_decode(const void *buf, struct udk_serial_line *line)
{
	const struct termios2 *t = &((const struct pty_termios *)buf)->t;

	memset(line, 0, sizeof(*line));
	line->struct_size = sizeof(*line);
	line->baud = t->c_ospeed;
	switch (t->c_cflag & CSIZE) {
	case CS5: line->data_bits = 5; break;
	case CS6: line->data_bits = 6; break;
	case CS7: line->data_bits = 7; break;
	default: line->data_bits = 8; break;
	}
	if (!(t->c_cflag & PARENB))
		line->parity = UDK_SERIAL_PARITY_NONE;
	else if (t->c_cflag & CMSPAR)
		line->parity = (t->c_cflag & PARODD) ? UDK_SERIAL_PARITY_MARK : UDK_SERIAL_PARITY_SPACE;
	else
		line->parity = (t->c_cflag & PARODD) ? UDK_SERIAL_PARITY_ODD : UDK_SERIAL_PARITY_EVEN;
	line->stop_bits = (t->c_cflag & CSTOPB) ? 2 : 1;
	line->rts_cts = t->c_cflag & CRTSCTS;
	line->xon_xoff = t->c_iflag & IXON;
	line->xon_xoff_input = t->c_iflag & IXOFF;
	line->xon_char = t->c_cc[VSTART];
	line->xoff_char = t->c_cc[VSTOP];
	line->read_enabled = t->c_cflag & CREAD;
}

int
pty_restore_line(int master, const void *good)
{
	const struct termios2 *g = &((const struct pty_termios *)good)->t;
	struct termios2 t;

	if (ioctl(master, TCGETS2, &t) < 0)
		return -errno;
	t.c_cflag = (t.c_cflag & ~(tcflag_t)LINE_CFLAG) | (g->c_cflag & LINE_CFLAG);
	t.c_iflag = (t.c_iflag & ~(tcflag_t)LINE_IFLAG) | (g->c_iflag & LINE_IFLAG);
	t.c_ospeed = g->c_ospeed;
	t.c_ispeed = g->c_ispeed;
	/* a standard rate goes back as its B-code, not BOTHER (which glibc's
	 * cfgetospeed, and so stty, cannot read) */
	if (speed_code(g->c_ospeed) != BOTHER && g->c_ospeed == g->c_ispeed) {
		t.c_cflag &= ~(tcflag_t)(CBAUD | CBAUDEX | (CBAUD << IBSHIFT));
		t.c_cflag |= speed_code(g->c_ospeed);
	}
	t.c_cc[VSTART] = g->c_cc[VSTART];
	t.c_cc[VSTOP] = g->c_cc[VSTOP];
	if (ioctl(master, TCSETS2, &t) < 0)
		return -errno;
	return 0;
}

static const struct {
	uint32_t baud;
	tcflag_t code;
} codes[] = {
		{ 50, B50 }, { 75, B75 }, { 110, B110 }, { 134, B134 }, { 150, B150 }, { 200, B200 }, { 300, B300 },
		{ 600, B600 }, { 1200, B1200 }, { 1800, B1800 }, { 2400, B2400 }, { 4800, B4800 }, { 9600, B9600 },
		{ 19200, B19200 }, { 38400, B38400 }, { 57600, B57600 }, { 115200, B115200 }, { 230400, B230400 },
		{ 460800, B460800 }, { 500000, B500000 }, { 576000, B576000 }, { 921600, B921600 },
		{ 1000000, B1000000 }, { 1152000, B1152000 }, { 1500000, B1500000 }, { 2000000, B2000000 },
		{ 2500000, B2500000 }, { 3000000, B3000000 }, { 3500000, B3500000 }, { 4000000, B4000000 },
};

/* The B-code of a standard rate, so that glibc's tcsetattr (which knows
 * no BOTHER) round-trips what tcgetattr gives; BOTHER for other rates. */
unsigned
serial_speed_code(uint32_t baud)
{
	for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++)
		if (codes[i].baud == baud)
			return codes[i].code;
	return BOTHER;
}

/* The rate of a B-code; 0 for B0, BOTHER or an unknown code. */
uint32_t
serial_code_baud(unsigned code)
{
	for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++)
		if (codes[i].code == code)
			return codes[i].baud;
	return 0;
}

int
pty_setup(int master, const struct udk_serial_line *line)
{
	struct termios2 t;
	int on = 1;

	if (ioctl(master, TIOCPKT, &on) < 0)
		return -errno;
	if (ioctl(master, TCGETS2, &t) < 0)
		return -errno;
	/* the slave starts as a serial port does: raw-ish input is the
	 * app's business, EXTPROC is ours (see the top of this file) */
	t.c_lflag |= EXTPROC;
	t.c_cflag &= ~(tcflag_t)(CBAUD | CBAUDEX | (CBAUD << IBSHIFT) | CSTOPB | CRTSCTS | PARENB | PARODD | CSIZE);
	t.c_cflag |= speed_code(line->baud) | CREAD | CS8;
	t.c_cflag |= line->stop_bits == 2 ? CSTOPB : 0;
	t.c_cflag |= line->rts_cts ? CRTSCTS : 0;
	t.c_ospeed = t.c_ispeed = line->baud;
	if (line->xon_xoff)
		t.c_iflag |= IXON;
	else
		t.c_iflag &= ~(tcflag_t)IXON;
	if (ioctl(master, TCSETS2, &t) < 0)
		return -errno;
	return 0;
}

int
pty_set_extproc(int master)
{
	struct termios2 t;

	if (ioctl(master, TCGETS2, &t) < 0)
		return -errno;
	t.c_lflag |= EXTPROC;
	return ioctl(master, TCSETS2, &t) < 0 ? -errno : 0;
}

/* The packet-mode status bits that mean "look at the settings". */
bool
pty_status_is_settings(unsigned char status)
{
	return status & (TIOCPKT_IOCTL | TIOCPKT_DOSTOP | TIOCPKT_NOSTOP);
}

bool
pty_status_is_flush(unsigned char status)
{
	return status & TIOCPKT_FLUSHWRITE;
}

/* ---- the CUSE backend's termios (cuse.c): what apps hand TCSETS ---- */

void
serial_termios_normalize(void *buf)
{
	struct termios2 *t = buf;
	tcflag_t code = serial_speed_code(t->c_ospeed);

	t->c_cflag &= ~(tcflag_t)(CBAUD | (CBAUD << IBSHIFT));
	if (code != BOTHER && t->c_ispeed == t->c_ospeed)
		t->c_cflag |= code;
	else
		t->c_cflag |= BOTHER | (BOTHER << IBSHIFT);
}

void
serial_termios_from_app(const void *in, bool two, const void *old_buf, void *out_buf)
{
	const struct termios2 *old = old_buf;
	struct termios2 *out = out_buf;
	unsigned code, icode;

	memset(out, 0, sizeof(*out));
	memcpy(out, in, two ? sizeof(struct termios2) : sizeof(struct termios));
	code = out->c_cflag & CBAUD;
	icode = (out->c_cflag >> IBSHIFT) & CBAUD;
	/* TCSETS has no speed fields: a B-code, or the old rate for BOTHER */
	if (!two || code != BOTHER)
		out->c_ospeed = code == BOTHER ? old->c_ospeed : serial_code_baud(code);
	if (!two || icode != BOTHER)
		out->c_ispeed = icode == 0 ? out->c_ospeed : icode == BOTHER ? old->c_ispeed : serial_code_baud(icode);
}

size_t
serial_termios_size(bool two)
{
	return two ? sizeof(struct termios2) : sizeof(struct termios);
}
