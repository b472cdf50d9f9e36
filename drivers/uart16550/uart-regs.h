/* SPDX-License-Identifier: MIT */
/*
 * uart-regs.h - the programming model of the udk simulated UART
 * (models/uart16550), shared by the model and its driver.
 *
 * PCI function 1234:0550, class 0x070002 (16550-compatible serial).
 * BAR0 (4 KiB, registers, byte wide at 0x00..0x07): the 16550's
 *   RBR/THR, IER, IIR/FCR, LCR, MCR, LSR, MSR, SCR, and DLL/DLM when
 *   LCR.DLAB is set; the divisor divides UART_CLOCK (4 MHz after the
 *   16x oversampling: divisor 1 is 4 Mbaud, the highest rate); DLD (at 2
 *   with DLAB, as the XR17V35x's) adds 4 fractional bits, so every common
 *   rate is within 0.2%.
 *   MCR.AFE (bit 5) is the 16750's automatic RTS/CTS flow control.
 * Extension registers (32 bit) from 0x100, as multi-port PCI UARTs add
 * a burst interface next to the 16550 set:
 *   UART_ID, UART_CLOCK, UART_XCTRL (bit 0: burst mode: data moves
 *   through the rings in BAR1, not RBR/THR), UART_DOORBELL (write: the
 *   driver moved tx_head or rx_tail).
 * BAR1 (256 KiB, memory the driver maps): struct uart_shm, then the TX
 *   ring (driver -> line) and the RX ring (line -> driver), 64 KiB each.
 *   The FIFO behind RBR/THR is these same rings.
 * MSI-X vector 0: the UART interrupt (IER: ERBFI received data, ETBEI
 *   transmitter room, ELSI line status, EDSSI modem status).
 */
#ifndef UDK_UART_REGS_H
#define UDK_UART_REGS_H

#include <stdint.h>

#define UART_VENDOR 0x1234
#define UART_DEVICE 0x0550

enum {
	UART_RBR = 0, UART_THR = 0, UART_DLL = 0,
	UART_IER = 1, UART_DLM = 1,
	UART_IIR = 2, UART_FCR = 2, UART_DLD = 2,
	UART_LCR = 3,
	UART_MCR = 4,
	UART_LSR = 5,
	UART_MSR = 6,
	UART_SCR = 7,
	UART_ID = 0x100,
	UART_CLOCK = 0x104,
	UART_XCTRL = 0x108,
	UART_DOORBELL = 0x10c,
};

#define UART_ID_VALUE 0x30353555u	/* "U550" */
#define UART_CLOCK_HZ 4000000u		/* baud = UART_CLOCK_HZ / divisor */

#define IER_ERBFI 0x01
#define IER_ETBEI 0x02
#define IER_ELSI 0x04
#define IER_EDSSI 0x08

#define IIR_NONE 0x01
#define IIR_MSI 0x00
#define IIR_THRI 0x02
#define IIR_RDI 0x04
#define IIR_RLSI 0x06

#define LCR_WLEN_MASK 0x03	/* 0: 5 bits .. 3: 8 bits */
#define LCR_STOP 0x04
#define LCR_PARITY 0x08
#define LCR_EPAR 0x10
#define LCR_SPAR 0x20
#define LCR_SBC 0x40		/* set break */
#define LCR_DLAB 0x80

#define MCR_DTR 0x01
#define MCR_RTS 0x02
#define MCR_OUT1 0x04
#define MCR_OUT2 0x08
#define MCR_LOOP 0x10
#define MCR_AFE 0x20

#define LSR_DR 0x01
#define LSR_OE 0x02
#define LSR_PE 0x04
#define LSR_FE 0x08
#define LSR_BI 0x10
#define LSR_THRE 0x20
#define LSR_TEMT 0x40

#define MSR_DCTS 0x01
#define MSR_DDSR 0x02
#define MSR_TERI 0x04
#define MSR_DDCD 0x08
#define MSR_CTS 0x10
#define MSR_DSR 0x20
#define MSR_RI 0x40
#define MSR_DCD 0x80

#define XCTRL_BURST 0x01
#define DOORBELL_TX 0x01
#define DOORBELL_RX 0x02

#define UART_BAR1_SIZE (256u * 1024)
#define UART_RING_SIZE (64u * 1024)
#define UART_TX_RING 0x1000u
#define UART_RX_RING (UART_TX_RING + UART_RING_SIZE)

/*
 * The head of BAR1.  Indices are free-running byte counts; the ring
 * offset is the index modulo UART_RING_SIZE.  Each side writes only its
 * own fields and checks the other's against the ring size.
 */
struct uart_shm {
	uint32_t tx_head;	/* driver: bytes put in the TX ring */
	uint32_t rx_tail;	/* driver: bytes taken from the RX ring */
	uint32_t pad0[14];
	uint32_t tx_tail;	/* model: bytes sent on the line */
	uint32_t rx_head;	/* model: bytes received */
	uint32_t lsr;		/* model: LSR mirror */
	uint32_t msr;		/* model: MSR mirror */
	uint32_t overrun;	/* model: error counters since reset */
	uint32_t framing;
	uint32_t parity;
	uint32_t breaks;
};

#endif
