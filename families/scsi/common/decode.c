/* SPDX-License-Identifier: MIT */
/*
 * decode.c - words for SCSI data: sense data, status, service responses,
 * opcodes, INQUIRY, VPD pages, REPORT LUNS and READ CAPACITY
 * (<udk/families/scsi.h>, part 1).
 *
 * Everything here reads bytes that came from a target or another process:
 * every length is checked against what arrived, nothing is trusted.  The
 * fuzz targets in families/scsi/tests/fuzz/ drive each decoder.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "scsi-private.h"

static const char *const key_names[16] = {
	"NO SENSE", "RECOVERED ERROR", "NOT READY", "MEDIUM ERROR", "HARDWARE ERROR", "ILLEGAL REQUEST",
	"UNIT ATTENTION", "DATA PROTECT", "BLANK CHECK", "VENDOR SPECIFIC", "COPY ABORTED", "ABORTED COMMAND",
	"RESERVED (0xC)", "VOLUME OVERFLOW", "MISCOMPARE", "COMPLETED",
};

static const char *const key_meanings[16] = {
	"nothing to report: the command succeeded or the sense only carries a filemark, end-of-medium or "
	"incorrect-length indication",
	"the command succeeded after the target recovered from an error (retries or correction)",
	"the logical unit cannot be accessed now (spinning up, formatting, no medium, needs a START STOP UNIT)",
	"the command failed on a flaw in the medium or the recorded data",
	"the target detected a hardware failure it cannot recover from",
	"the target refused the command as sent: an opcode it does not implement, an invalid field in the CDB or "
	"the parameter list, a LUN it does not have, or an address out of range; nothing was done",
	"the target reports an event the initiator must know about (power on, reset, changed parameters or "
	"medium); the command was not executed and is normally retried",
	"the command tried to read or write a block that is protected (write protected, or access denied)",
	"a write-once or sequential medium met blank medium or a format-defined end-of-data",
	"a vendor specific condition",
	"an EXTENDED COPY command was aborted",
	"the target aborted the command (transport error, task management, timeouts on its side); retrying may "
	"succeed",
	"reserved",
	"a buffered device reached the end of the partition with data still in its buffer",
	"the source data did not match the data read from the medium (VERIFY, COMPARE AND WRITE)",
	"a command completed with sense data to report (e.g. ATA PASS-THROUGH information)",
};

UDK_EXPORT const char *
udk_scsi_sense_key_name(uint8_t key)
{
	return key_names[key & 0xf];
}

UDK_EXPORT const char *
udk_scsi_sense_key_meaning(uint8_t key)
{
	return key_meanings[key & 0xf];
}

UDK_EXPORT const char *
udk_scsi_response_code_name(uint8_t code)
{
	switch (code & 0x7f) {
	case 0x70:
		return "fixed format, current";
	case 0x71:
		return "fixed format, deferred";
	case 0x72:
		return "descriptor format, current";
	case 0x73:
		return "descriptor format, deferred";
	case 0x7f:
		return "vendor specific format";
	default:
		return NULL;
	}
}

UDK_EXPORT const char *
udk_scsi_status_name(uint8_t status)
{
	switch (status) {
	case 0x00:
		return "GOOD";
	case 0x02:
		return "CHECK CONDITION";
	case 0x04:
		return "CONDITION MET";
	case 0x08:
		return "BUSY";
	case 0x10:
		return "INTERMEDIATE";
	case 0x14:
		return "INTERMEDIATE-CONDITION MET";
	case 0x18:
		return "RESERVATION CONFLICT";
	case 0x22:
		return "COMMAND TERMINATED";
	case 0x28:
		return "TASK SET FULL";
	case 0x30:
		return "ACA ACTIVE";
	case 0x40:
		return "TASK ABORTED";
	default:
		return "reserved";
	}
}

UDK_EXPORT const char *
udk_scsi_service_response_name(uint32_t sr)
{
	switch (sr) {
	case 0:
		return "REQUEST_IN_PROCESS";
	case 1:
		return "SERVICE_DELIVERY_OR_TARGET_FAILURE";
	case 2:
		return "TASK_COMPLETE";
	case 3:
		return "LINK_COMMAND_COMPLETE";
	case 4:
		return "FUNCTION_COMPLETE";
	case 5:
		return "FUNCTION_REJECTED";
	default:
		return "unknown service response";
	}
}

/* ---- sense data ---- */

static void
decode_descriptors(const uint8_t *b, size_t len, struct udk_scsi_sense *s)
{
	size_t end = 8 + (size_t)b[7];

	if (end > len)
		end = len;
	for (size_t at = 8; at + 2 <= end;) {
		uint8_t type = b[at], dlen = b[at + 1];
		const uint8_t *d = b + at;
		size_t total = 2 + (size_t)dlen;

		if (at + total > end)
			break;
		switch (type) {
		case 0x00: /* information */
			if (dlen >= 0x0a) {
				s->information_valid = d[2] & 0x80;
				s->information = scsi_get64(d + 4);
			}
			break;
		case 0x01: /* command specific information */
			if (dlen >= 0x0a) {
				s->command_specific_valid = true;
				s->command_specific = scsi_get64(d + 4);
			}
			break;
		case 0x02: /* sense key specific */
			if (dlen >= 0x06) {
				s->sense_key_specific_valid = d[4] & 0x80;
				memcpy(s->sense_key_specific, d + 4, 3);
			}
			break;
		case 0x03: /* field replaceable unit */
			if (dlen >= 0x02)
				s->fru = d[3];
			break;
		case 0x04: /* stream commands */
			if (dlen >= 0x02) {
				s->filemark = d[3] & 0x80;
				s->eom = d[3] & 0x40;
				s->ili = d[3] & 0x20;
			}
			break;
		case 0x05: /* block commands */
			if (dlen >= 0x02)
				s->ili = d[3] & 0x20;
			break;
		default:
			break;
		}
		at += total;
	}
}

UDK_EXPORT int
udk_scsi_sense_decode(const void *sense, size_t len, struct udk_scsi_sense *ret)
{
	const uint8_t *b = sense;
	uint8_t code;

	if (!ret)
		return -EINVAL;
	memset(ret, 0, sizeof(*ret));
	if (!b || len < 1)
		return udk_set_reason(-EINVAL, "no sense data (0 bytes)");
	code = b[0] & 0x7f;
	ret->response_code = code;
	switch (code) {
	case 0x70:
	case 0x71:
		if (len < 3)
			return udk_set_reason(-EINVAL, "fixed-format sense data needs at least 3 bytes, not %zu",
						     len);
		ret->deferred = code == 0x71;
		ret->sense_key = b[2] & 0xf;
		ret->filemark = b[2] & 0x80;
		ret->eom = b[2] & 0x40;
		ret->ili = b[2] & 0x20;
		if (len >= 7) {
			ret->information_valid = b[0] & 0x80;
			ret->information = scsi_get32(b + 3);
		}
		if (len >= 12 && b[7] >= 4) {
			ret->command_specific_valid = true;
			ret->command_specific = scsi_get32(b + 8);
		}
		if (len >= 14 && b[7] >= 6) {
			ret->asc = b[12];
			ret->ascq = b[13];
		}
		if (len >= 15 && b[7] >= 7)
			ret->fru = b[14];
		if (len >= 18 && b[7] >= 10) {
			ret->sense_key_specific_valid = b[15] & 0x80;
			memcpy(ret->sense_key_specific, b + 15, 3);
		}
		ret->length = len < 8 ? len : MIN_SZ(len, 8 + (size_t)b[7]);
		ret->valid = true;
		return 0;
	case 0x72:
	case 0x73:
		if (len < 4)
			return udk_set_reason(-EINVAL,
						     "descriptor-format sense data needs at least 4 bytes, not %zu", len);
		ret->descriptor_format = true;
		ret->deferred = code == 0x73;
		ret->sense_key = b[1] & 0xf;
		ret->asc = b[2];
		ret->ascq = b[3];
		if (len >= 8)
			decode_descriptors(b, len, ret);
		ret->length = len < 8 ? len : MIN_SZ(len, 8 + (size_t)b[7]);
		ret->valid = true;
		return 0;
	case 0x7f:
		ret->length = len;
		return 0; /* defined, but its layout is the vendor's */
	default:
		return udk_set_reason(-EINVAL,
					     "response code 0x%02x is not a sense data format (SPC defines 0x70..0x73 "
					     "and 0x7f)",
					     code);
	}
}

static const char *const impending_kinds[6] = {
	"HARDWARE IMPENDING FAILURE", "CONTROLLER IMPENDING FAILURE", "DATA CHANNEL IMPENDING FAILURE",
	"SERVO IMPENDING FAILURE", "SPINDLE IMPENDING FAILURE", "FIRMWARE IMPENDING FAILURE",
};
static const char *const impending_what[13] = {
	"GENERAL HARD DRIVE FAILURE", "DRIVE ERROR RATE TOO HIGH", "DATA ERROR RATE TOO HIGH",
	"SEEK ERROR RATE TOO HIGH", "TOO MANY BLOCK REASSIGNS", "ACCESS TIMES TOO HIGH", "START UNIT TIMES TOO HIGH",
	"CHANNEL PARAMETRICS", "CONTROLLER DETECTED", "THROUGHPUT PERFORMANCE", "SEEK TIME PERFORMANCE",
	"SPIN-UP RETRY COUNT", "DRIVE CALIBRATION RETRY COUNT",
};

UDK_EXPORT int
udk_scsi_asc_describe(uint8_t asc, uint8_t ascq, char *buf, size_t cap)
{
	if (!buf || !cap)
		return -EINVAL;
	for (size_t i = 0; i < scsi_asc_table_size; i++)
		if (scsi_asc_table[i].asc == asc && scsi_asc_table[i].ascq == ascq) {
			snprintf(buf, cap, "%s", scsi_asc_table[i].text);
			return 1;
		}
	/* the ranges SPC assigns by rule */
	if (asc == 0x40 && ascq >= 0x80) {
		snprintf(buf, cap, "DIAGNOSTIC FAILURE ON COMPONENT 0x%02X", ascq);
		return 1;
	}
	if (asc == 0x4d) {
		snprintf(buf, cap, "TAGGED OVERLAPPED COMMANDS (TASK TAG 0x%02X)", ascq);
		return 1;
	}
	if (asc == 0x70) {
		snprintf(buf, cap, "DECOMPRESSION EXCEPTION SHORT ALGORITHM ID OF 0x%02X", ascq);
		return 1;
	}
	if (asc == 0x5d && ascq >= 0x10 && ascq <= 0x6c && (ascq & 0xf) <= 0xc) {
		snprintf(buf, cap, "%s %s", impending_kinds[(ascq >> 4) - 1], impending_what[ascq & 0xf]);
		return 1;
	}
	if (asc >= 0x80) {
		snprintf(buf, cap, "ASC 0x%02X ASCQ 0x%02X (a vendor specific code: see the device's manual)", asc, ascq);
		return 0;
	}
	if (ascq >= 0x80) {
		/* a vendor specific qualifier of a standard code */
		for (size_t i = 0; i < scsi_asc_table_size; i++)
			if (scsi_asc_table[i].asc == asc && scsi_asc_table[i].ascq == 0) {
				snprintf(buf, cap, "%s (vendor specific qualifier 0x%02X)", scsi_asc_table[i].text, ascq);
				return 1;
			}
	}
	snprintf(buf, cap, "ASC 0x%02X ASCQ 0x%02X (not in SPC's table: vendor specific or newer than udk's table)",
		 asc, ascq);
	return 0;
}

static size_t
appendf(char *buf, size_t cap, size_t at, const char *fmt, ...) UDK_PRINTF(4, 5);

static size_t
appendf(char *buf, size_t cap, size_t at, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (at >= cap)
		return at;
	va_start(ap, fmt);
	n = vsnprintf(buf + at, cap - at, fmt, ap);
	va_end(ap);
	if (n < 0)
		return at;
	return at + (size_t)n >= cap ? cap - 1 : at + (size_t)n;
}

UDK_EXPORT int
udk_scsi_sense_describe(const void *sense, size_t len, char *buf, size_t cap)
{
	struct udk_scsi_sense s;
	char asc[160];
	size_t at = 0;

	if (!buf || !cap)
		return -EINVAL;
	buf[0] = 0;
	if (udk_scsi_sense_decode(sense, len, &s) < 0) {
		at = appendf(buf, cap, 0, "no usable sense data: %s",
			     udk_error_reason() ? udk_error_reason() : "unknown format");
		return (int)at;
	}
	if (!s.valid) {
		at = appendf(buf, cap, 0, "sense data in the vendor specific format (response code 0x7f), %zu bytes",
			     len);
		return (int)at;
	}
	udk_scsi_asc_describe(s.asc, s.ascq, asc, sizeof(asc));
	at = appendf(buf, cap, at, "sense key %s (0x%X), ASC 0x%02X ASCQ 0x%02X: %s (%s)",
		     udk_scsi_sense_key_name(s.sense_key), s.sense_key, s.asc, s.ascq, asc,
		     udk_scsi_response_code_name(s.response_code));
	if (s.information_valid)
		at = appendf(buf, cap, at, "; information 0x%llx", (unsigned long long)s.information);
	if (s.sense_key_specific_valid) {
		const uint8_t *k = s.sense_key_specific;
		if (s.sense_key == UDK_SCSI_SENSE_ILLEGAL_REQUEST) {
			unsigned field = scsi_get16(k + 1);
			at = appendf(buf, cap, at, "; the field in error is byte %u", field);
			if (k[0] & 0x08)
				at = appendf(buf, cap, at, " bit %u", k[0] & 7);
			at = appendf(buf, cap, at, " of the %s", (k[0] & 0x40) ? "CDB" : "parameter data");
		} else if (s.sense_key == UDK_SCSI_SENSE_NOT_READY || s.sense_key == UDK_SCSI_SENSE_NO_SENSE) {
			at = appendf(buf, cap, at, "; progress %u%%", (unsigned)(scsi_get16(k + 1) * 100u / 65536u));
		} else {
			at = appendf(buf, cap, at, "; sense key specific 0x%02x%02x%02x", k[0], k[1], k[2]);
		}
	}
	if (s.fru)
		at = appendf(buf, cap, at, "; field replaceable unit 0x%02x", s.fru);
	if (s.filemark)
		at = appendf(buf, cap, at, "; filemark");
	if (s.eom)
		at = appendf(buf, cap, at, "; end of medium");
	if (s.ili)
		at = appendf(buf, cap, at, "; incorrect length");
	return (int)at;
}

/* ---- opcodes and CDBs ---- */

struct opname {
	uint8_t op;
	const char *name;
};

static const struct opname opnames[] = {
	{ 0x00, "TEST UNIT READY" },
	{ 0x01, "REZERO UNIT" },
	{ 0x03, "REQUEST SENSE" },
	{ 0x04, "FORMAT UNIT" },
	{ 0x07, "REASSIGN BLOCKS" },
	{ 0x08, "READ(6)" },
	{ 0x0a, "WRITE(6)" },
	{ 0x0b, "SEEK(6)" },
	{ 0x12, "INQUIRY" },
	{ 0x15, "MODE SELECT(6)" },
	{ 0x16, "RESERVE(6)" },
	{ 0x17, "RELEASE(6)" },
	{ 0x18, "COPY" },
	{ 0x1a, "MODE SENSE(6)" },
	{ 0x1b, "START STOP UNIT" },
	{ 0x1c, "RECEIVE DIAGNOSTIC RESULTS" },
	{ 0x1d, "SEND DIAGNOSTIC" },
	{ 0x1e, "PREVENT ALLOW MEDIUM REMOVAL" },
	{ 0x23, "READ FORMAT CAPACITIES" },
	{ 0x25, "READ CAPACITY(10)" },
	{ 0x28, "READ(10)" },
	{ 0x2a, "WRITE(10)" },
	{ 0x2b, "SEEK(10)" },
	{ 0x2e, "WRITE AND VERIFY(10)" },
	{ 0x2f, "VERIFY(10)" },
	{ 0x34, "PRE-FETCH(10)" },
	{ 0x35, "SYNCHRONIZE CACHE(10)" },
	{ 0x36, "LOCK UNLOCK CACHE(10)" },
	{ 0x37, "READ DEFECT DATA(10)" },
	{ 0x3b, "WRITE BUFFER" },
	{ 0x3c, "READ BUFFER" },
	{ 0x3e, "READ LONG(10)" },
	{ 0x3f, "WRITE LONG(10)" },
	{ 0x41, "WRITE SAME(10)" },
	{ 0x42, "UNMAP" },
	{ 0x43, "READ TOC/PMA/ATIP" },
	{ 0x46, "GET CONFIGURATION" },
	{ 0x4a, "GET EVENT STATUS NOTIFICATION" },
	{ 0x4c, "LOG SELECT" },
	{ 0x4d, "LOG SENSE" },
	{ 0x51, "READ DISC INFORMATION" },
	{ 0x55, "MODE SELECT(10)" },
	{ 0x56, "RESERVE(10)" },
	{ 0x57, "RELEASE(10)" },
	{ 0x5a, "MODE SENSE(10)" },
	{ 0x5e, "PERSISTENT RESERVE IN" },
	{ 0x5f, "PERSISTENT RESERVE OUT" },
	{ 0x7f, "VARIABLE LENGTH CDB" },
	{ 0x83, "EXTENDED COPY / THIRD-PARTY COPY OUT" },
	{ 0x84, "RECEIVE COPY RESULTS / THIRD-PARTY COPY IN" },
	{ 0x85, "ATA PASS-THROUGH(16)" },
	{ 0x86, "ACCESS CONTROL IN" },
	{ 0x87, "ACCESS CONTROL OUT" },
	{ 0x88, "READ(16)" },
	{ 0x89, "COMPARE AND WRITE" },
	{ 0x8a, "WRITE(16)" },
	{ 0x8c, "READ ATTRIBUTE" },
	{ 0x8d, "WRITE ATTRIBUTE" },
	{ 0x8e, "WRITE AND VERIFY(16)" },
	{ 0x8f, "VERIFY(16)" },
	{ 0x90, "PRE-FETCH(16)" },
	{ 0x91, "SYNCHRONIZE CACHE(16)" },
	{ 0x92, "LOCK UNLOCK CACHE(16)" },
	{ 0x93, "WRITE SAME(16)" },
	{ 0x9e, "SERVICE ACTION IN(16) (READ CAPACITY(16) ...)" },
	{ 0x9f, "SERVICE ACTION OUT(16)" },
	{ 0xa0, "REPORT LUNS" },
	{ 0xa1, "ATA PASS-THROUGH(12)" },
	{ 0xa2, "SECURITY PROTOCOL IN" },
	{ 0xa3, "MAINTENANCE IN (REPORT SUPPORTED OPERATION CODES ...)" },
	{ 0xa4, "MAINTENANCE OUT" },
	{ 0xa5, "MOVE MEDIUM" },
	{ 0xa8, "READ(12)" },
	{ 0xaa, "WRITE(12)" },
	{ 0xab, "SERVICE ACTION IN(12)" },
	{ 0xac, "GET PERFORMANCE" },
	{ 0xad, "READ DVD STRUCTURE" },
	{ 0xaf, "VERIFY(12)" },
	{ 0xb5, "SECURITY PROTOCOL OUT" },
	{ 0xb7, "READ DEFECT DATA(12)" },
	{ 0xb8, "READ ELEMENT STATUS" },
	{ 0xbb, "SET CD SPEED" },
	{ 0xbd, "MECHANISM STATUS" },
	{ 0xbe, "READ CD" },
};

UDK_EXPORT const char *
udk_scsi_opcode_name(uint8_t opcode)
{
	for (size_t i = 0; i < sizeof(opnames) / sizeof(opnames[0]); i++)
		if (opnames[i].op == opcode)
			return opnames[i].name;
	return NULL;
}

UDK_EXPORT unsigned
udk_scsi_cdb_length_for_opcode(uint8_t opcode)
{
	switch (opcode >> 5) {
	case 0:
		return 6;
	case 1:
	case 2:
		return 10;
	case 4:
		return 16;
	case 5:
		return 12;
	default:
		return 0; /* group 3: variable length or reserved; 6, 7: vendor specific */
	}
}

static const char *
cdb_name(const uint8_t *cdb, size_t len)
{
	if (len >= 2 && cdb[0] == 0x9e && (cdb[1] & 0x1f) == 0x10)
		return "READ CAPACITY(16)";
	if (len >= 2 && cdb[0] == 0xa3 && (cdb[1] & 0x1f) == 0x0c)
		return "REPORT SUPPORTED OPERATION CODES";
	return udk_scsi_opcode_name(cdb[0]);
}

UDK_EXPORT int
udk_scsi_cdb_describe(const uint8_t *cdb, size_t len, char *buf, size_t cap)
{
	const char *name;
	size_t at = 0;

	if (!buf || !cap)
		return -EINVAL;
	buf[0] = 0;
	if (!cdb || !len)
		return (int)appendf(buf, cap, 0, "an empty CDB");
	name = cdb_name(cdb, len);
	if (name)
		at = appendf(buf, cap, at, "%s (", name);
	else
		at = appendf(buf, cap, at, "opcode 0x%02x (", cdb[0]);
	for (size_t i = 0; i < len && i < 32; i++)
		at = appendf(buf, cap, at, "%s%02x", i ? " " : "", cdb[i]);
	at = appendf(buf, cap, at, ")");
	return (int)at;
}

bool
scsi_cdb_rw(const uint8_t *cdb, size_t len, uint64_t *ret_lba, uint32_t *ret_blocks, bool *ret_write)
{
	if (!cdb || !len)
		return false;
	switch (cdb[0]) {
	case 0x28:
	case 0x2a:
		if (len < 10)
			return false;
		*ret_lba = scsi_get32(cdb + 2);
		*ret_blocks = scsi_get16(cdb + 7);
		*ret_write = cdb[0] == 0x2a;
		return true;
	case 0x88:
	case 0x8a:
		if (len < 16)
			return false;
		*ret_lba = scsi_get64(cdb + 2);
		*ret_blocks = scsi_get32(cdb + 10);
		*ret_write = cdb[0] == 0x8a;
		return true;
	case 0xa8:
	case 0xaa:
		if (len < 12)
			return false;
		*ret_lba = scsi_get32(cdb + 2);
		*ret_blocks = scsi_get32(cdb + 6);
		*ret_write = cdb[0] == 0xaa;
		return true;
	default:
		return false;
	}
}

size_t
scsi_build_sense(uint8_t *out, uint8_t key, uint8_t asc, uint8_t ascq, int field_byte, int field_bit, bool in_cdb)
{
	memset(out, 0, 18);
	out[0] = 0x70;
	out[2] = key & 0xf;
	out[7] = 10;
	out[12] = asc;
	out[13] = ascq;
	if (field_byte >= 0) {
		out[15] = (uint8_t)(0x80 | (in_cdb ? 0x40 : 0) | (field_bit >= 0 ? 0x08 | (field_bit & 7) : 0));
		scsi_put16(out + 16, (uint16_t)field_byte);
	}
	return 18;
}

/* ---- the explanation ---- */

UDK_EXPORT int
udk_scsi_explain(const uint8_t *cdb, size_t cdb_len, const void *sense, size_t sense_len, char *buf, size_t cap)
{
	struct udk_scsi_sense s;
	char what[200] = "the command";
	size_t at = 0;
	unsigned expect = cdb && cdb_len ? udk_scsi_cdb_length_for_opcode(cdb[0]) : 0;

	if (!buf || !cap)
		return -EINVAL;
	buf[0] = 0;
	if (cdb && cdb_len)
		udk_scsi_cdb_describe(cdb, cdb_len, what, sizeof(what));
	if (udk_scsi_sense_decode(sense, sense_len, &s) < 0 || !s.valid)
		return (int)appendf(buf, cap, 0,
				    "The target answered CHECK CONDITION without sense data udk can read; send REQUEST "
				    "SENSE (03 00 00 00 12 00) at once to fetch it.");
	switch (s.sense_key) {
	case UDK_SCSI_SENSE_ILLEGAL_REQUEST:
		at = appendf(buf, cap, at, "ILLEGAL REQUEST: the target refused %s as sent and did nothing. ", what);
		if (s.asc == 0x20) {
			at = appendf(buf, cap, at,
				     "INVALID COMMAND OPERATION CODE means the target does not implement opcode 0x%02x%s%s%s "
				     "for this kind of logical unit. The usual causes: ",
				     cdb && cdb_len ? cdb[0] : 0, cdb && cdb_len && udk_scsi_opcode_name(cdb[0]) ? " (" : "",
				     cdb && cdb_len && udk_scsi_opcode_name(cdb[0]) ? udk_scsi_opcode_name(cdb[0]) : "",
				     cdb && cdb_len && udk_scsi_opcode_name(cdb[0]) ? ")" : "");
			if (expect && cdb_len != expect)
				at = appendf(buf, cap, at,
					     "(1) the CDB length: this opcode's group makes it a %u-byte CDB, but %zu bytes "
					     "were sent; many targets and bridges reject a CDB whose length does not match "
					     "its opcode (send exactly %u bytes); ",
					     expect, cdb_len, expect);
			else
				at = appendf(buf, cap, at,
					     "(1) a CDB length the target or a bridge in between rejects (the CDB must be "
					     "exactly as long as its opcode's group says: 6, 10, 12 or 16 bytes); ");
			at = appendf(buf, cap, at,
				     "(2) a command of another device type (an MMC or SSC command sent to a disk, or a "
				     "vendor command to a device of another vendor); "
				     "(3) a LUN that does not exist or is not ready to take this command (check REPORT "
				     "LUNS and the INQUIRY peripheral qualifier); "
				     "(4) a bridge (USB, SAT, RAID controller) that passes only a subset of commands. "
				     "REPORT SUPPORTED OPERATION CODES (a3 0c ...) lists what the target takes, when it "
				     "implements it.");
		} else if (s.asc == 0x24) {
			at = appendf(buf, cap, at, "INVALID FIELD IN CDB: ");
			if (s.sense_key_specific_valid && (s.sense_key_specific[0] & 0x40)) {
				unsigned byte = scsi_get16(s.sense_key_specific + 1);
				at = appendf(buf, cap, at, "the target points at byte %u", byte);
				if (s.sense_key_specific[0] & 0x08)
					at = appendf(buf, cap, at, " bit %u", s.sense_key_specific[0] & 7);
				if (cdb && byte < cdb_len)
					at = appendf(buf, cap, at, " (value 0x%02x)", cdb[byte]);
				at = appendf(buf, cap, at, ". ");
			}
			at = appendf(buf, cap, at,
				     "The usual causes: an allocation length the target rejects (zero where it needs "
				     "data, or larger than it supports; for INQUIRY with EVPD or CMDDT set, a page it "
				     "does not have), reserved bits set, a service action it does not implement, or an "
				     "EVPD/page code it does not support.");
		} else if (s.asc == 0x25) {
			at = appendf(buf, cap, at,
				     "LOGICAL UNIT NOT SUPPORTED: the command went to a LUN the target does not have. "
				     "Send REPORT LUNS (a0 00 00 00 00 00 00 00 10 00 00 00) to LUN 0 to list the LUNs, and "
				     "check the LUN the driver was matched on.");
		} else if (s.asc == 0x21) {
			at = appendf(buf, cap, at,
				     "LOGICAL BLOCK ADDRESS OUT OF RANGE: the LBA plus the transfer length passes the end "
				     "of the medium; READ CAPACITY(16) gives the last LBA.");
		} else if (s.asc == 0x1a) {
			at = appendf(buf, cap, at,
				     "PARAMETER LIST LENGTH ERROR: the parameter list length in the CDB does not match "
				     "what the command's data must hold.");
		} else if (s.asc == 0x26) {
			at = appendf(buf, cap, at,
				     "INVALID FIELD IN PARAMETER LIST: the data sent with the command holds a value the "
				     "target does not accept%s.",
				     s.sense_key_specific_valid && !(s.sense_key_specific[0] & 0x40) ? " (the field pointer "
											     "above names it)"
												     : "");
		} else {
			at = appendf(buf, cap, at,
				     "The usual causes: an opcode, a field or a length the target does not implement, a "
				     "LUN that does not exist, an address out of range.");
		}
		break;
	case UDK_SCSI_SENSE_UNIT_ATTENTION:
		at = appendf(buf, cap, at,
			     "UNIT ATTENTION: the target reports an event (power on, reset, changed mode parameters, "
			     "changed capacity or medium) and did not execute %s. This is normal after a reset or "
			     "when the device starts: send the command again; the condition is reported once.",
			     what);
		break;
	case UDK_SCSI_SENSE_NOT_READY:
		at = appendf(buf, cap, at,
			     "NOT READY: the logical unit cannot take %s now. If it is becoming ready (ASC 04/01) wait "
			     "and retry; if it needs an initializing command (04/02) send START STOP UNIT with START; "
			     "MEDIUM NOT PRESENT (3a/xx) needs a medium.",
			     what);
		break;
	case UDK_SCSI_SENSE_MEDIUM_ERROR:
		at = appendf(buf, cap, at,
			     "MEDIUM ERROR: the medium could not be read or written%s; the data there may be lost. "
			     "Reassign the block or replace the device.",
			     s.information_valid ? " at the LBA in the information field" : "");
		break;
	case UDK_SCSI_SENSE_HARDWARE_ERROR:
		at = appendf(buf, cap, at, "HARDWARE ERROR: the device failed internally; retrying rarely helps.");
		break;
	case UDK_SCSI_SENSE_ABORTED_COMMAND:
		at = appendf(buf, cap, at,
			     "ABORTED COMMAND: the target aborted %s (a transport or protocol error, or its own "
			     "timeout); retrying usually succeeds.",
			     what);
		break;
	case UDK_SCSI_SENSE_DATA_PROTECT:
		at = appendf(buf, cap, at,
			     "DATA PROTECT: the blocks are write protected or access is denied; nothing was written.");
		break;
	default:
		at = appendf(buf, cap, at, "%s: %s.", udk_scsi_sense_key_name(s.sense_key),
			     udk_scsi_sense_key_meaning(s.sense_key));
		break;
	}
	return (int)at;
}

/* ---- INQUIRY ---- */

static void
trimmed(char *dst, const uint8_t *src, size_t n)
{
	size_t len = 0;

	for (size_t i = 0; i < n; i++)
		dst[i] = src[i] >= 0x20 && src[i] < 0x7f ? (char)src[i] : '?';
	for (size_t i = 0; i < n; i++)
		if (dst[i] != ' ')
			len = i + 1;
	dst[len] = 0;
}

UDK_EXPORT int
udk_scsi_inquiry_decode(const void *data, size_t len, struct udk_scsi_inquiry *ret)
{
	const uint8_t *b = data;

	if (!ret)
		return -EINVAL;
	memset(ret, 0, sizeof(*ret));
	if (!b || len < 5)
		return udk_set_reason(-EINVAL, "INQUIRY data of %zu bytes is shorter than its 5-byte header", len);
	ret->peripheral_qualifier = b[0] >> 5;
	ret->device_type = b[0] & 0x1f;
	ret->removable = b[1] & 0x80;
	ret->version = b[2];
	ret->normaca = b[3] & 0x20;
	ret->hisup = b[3] & 0x10;
	ret->response_data_format = b[3] & 0xf;
	ret->length = MIN_SZ(len, 5 + (size_t)b[4]);
	if (ret->length >= 6) {
		ret->sccs = b[5] & 0x80;
		ret->protect = b[5] & 0x01;
	}
	if (ret->length >= 7) {
		ret->encserv = b[6] & 0x40;
		ret->multip = b[6] & 0x10;
	}
	if (ret->length >= 8)
		ret->cmdque = b[7] & 0x02;
	if (ret->length < 36)
		return udk_set_reason(-EINVAL,
					     "INQUIRY data of %zu bytes has no vendor, product and revision (36 bytes "
					     "needed; ask with allocation length 0x24 or more)",
					     ret->length);
	trimmed(ret->vendor, b + 8, 8);
	trimmed(ret->product, b + 16, 16);
	trimmed(ret->revision, b + 32, 4);
	return 0;
}

UDK_EXPORT const char *
udk_scsi_device_type_name(uint8_t type)
{
	static const char *const names[] = {
		"direct access block device", "sequential access device", "printer", "processor", "write-once device",
		"CD/DVD device", "scanner", "optical memory device", "medium changer", "communications device",
		"obsolete (0x0a)", "obsolete (0x0b)", "storage array controller", "enclosure services device",
		"simplified direct access device", "optical card reader/writer", "bridge controller",
		"object-based storage device", "automation/drive interface", "security manager device",
		"host managed zoned block device",
	};

	if (type < sizeof(names) / sizeof(names[0]))
		return names[type];
	if (type == 0x1e)
		return "well known logical unit";
	if (type == 0x1f)
		return "unknown or no device type";
	return "reserved device type";
}

/* ---- VPD pages ---- */

UDK_EXPORT int
udk_scsi_vpd_supported_decode(const void *data, size_t len, uint8_t *pages, size_t cap, size_t *ret_n)
{
	const uint8_t *b = data;
	size_t n;

	if (!b || len < 4 || b[1] != 0x00)
		return udk_set_reason(-EINVAL, "not a SUPPORTED VPD PAGES page (page code 0x%02x, %zu bytes)",
					     b && len > 1 ? b[1] : 0xff, len);
	n = MIN_SZ(len - 4, scsi_get16(b + 2));
	for (size_t i = 0; i < n && i < cap && pages; i++)
		pages[i] = b[4 + i];
	if (ret_n)
		*ret_n = n;
	return 0;
}

UDK_EXPORT int
udk_scsi_vpd_serial_decode(const void *data, size_t len, char *buf, size_t cap)
{
	const uint8_t *b = data;
	size_t n, start = 0, end;

	if (!buf || !cap)
		return -EINVAL;
	buf[0] = 0;
	if (!b || len < 4 || b[1] != 0x80)
		return udk_set_reason(-EINVAL, "not a UNIT SERIAL NUMBER page (page code 0x%02x, %zu bytes)",
					     b && len > 1 ? b[1] : 0xff, len);
	n = MIN_SZ(len - 4, scsi_get16(b + 2));
	while (start < n && b[4 + start] == ' ')
		start++;
	end = n;
	while (end > start && (b[4 + end - 1] == ' ' || b[4 + end - 1] == 0))
		end--;
	for (size_t i = start, o = 0; i < end && o + 1 < cap; i++, o++) {
		uint8_t c = b[4 + i];
		buf[o] = c >= 0x20 && c < 0x7f ? (char)c : '?';
		buf[o + 1] = 0;
	}
	return 0;
}

UDK_EXPORT int
udk_scsi_vpd_designator_decode(const void *data, size_t len, char *buf, size_t cap)
{
	const uint8_t *b = data;
	size_t end, best_at = 0;
	int best_rank = 0;

	if (!buf || !cap)
		return -EINVAL;
	buf[0] = 0;
	if (!b || len < 4 || b[1] != 0x83)
		return udk_set_reason(-EINVAL,
					     "not a DEVICE IDENTIFICATION page (page code 0x%02x, %zu bytes)",
					     b && len > 1 ? b[1] : 0xff, len);
	end = MIN_SZ(len, 4 + (size_t)scsi_get16(b + 2));
	for (size_t at = 4; at + 4 <= end;) {
		uint8_t type = b[at + 1] & 0xf, assoc = (b[at + 1] >> 4) & 3, dlen = b[at + 3];
		int rank = 0;
		if (at + 4 + dlen > end)
			break;
		if (assoc == 0) { /* the logical unit's own designators */
			if (type == 3)
				rank = 3; /* NAA */
			else if (type == 2)
				rank = 2; /* EUI-64 */
			else if (type == 1)
				rank = 1; /* T10 vendor id */
		}
		if (rank > best_rank) {
			best_rank = rank;
			best_at = at;
		}
		at += 4 + (size_t)dlen;
	}
	if (!best_rank)
		return udk_set_reason(-ENOENT, "the page holds no NAA, EUI-64 or T10 designator of the LU");
	{
		uint8_t type = b[best_at + 1] & 0xf, dlen = b[best_at + 3];
		const uint8_t *d = b + best_at + 4;
		size_t at = 0;
		if (type == 1) {
			at = appendf(buf, cap, 0, "t10.");
			for (size_t i = 0; i < dlen; i++)
				at = appendf(buf, cap, at, "%c", d[i] >= 0x20 && d[i] < 0x7f ? d[i] : '?');
		} else {
			at = appendf(buf, cap, 0, type == 3 ? "naa." : "eui.");
			for (size_t i = 0; i < dlen; i++)
				at = appendf(buf, cap, at, "%02x", d[i]);
		}
	}
	return 0;
}

/* ---- REPORT LUNS ---- */

UDK_EXPORT int
udk_scsi_report_luns_decode(const void *data, size_t len, uint64_t *luns, size_t cap, size_t *ret_total)
{
	const uint8_t *b = data;
	size_t total, present;

	if (!b || len < 8)
		return udk_set_reason(-EINVAL, "REPORT LUNS data of %zu bytes is shorter than its 8-byte header",
					     len);
	total = scsi_get32(b) / 8;
	present = MIN_SZ(total, (len - 8) / 8);
	for (size_t i = 0; i < present && i < cap && luns; i++) {
		const uint8_t *l = b + 8 + 8 * i;
		uint8_t method = l[0] >> 6;
		bool rest_zero = !(l[2] | l[3] | l[4] | l[5] | l[6] | l[7]);
		if (method == 0 && rest_zero)
			luns[i] = ((uint64_t)(l[0] & 0x3f) << 8) | l[1]; /* peripheral device addressing: bus 0 LUN */
		else if (method == 1 && rest_zero)
			luns[i] = ((uint64_t)(l[0] & 0x3f) << 8) | l[1]; /* flat space */
		else
			luns[i] = scsi_get64(l) | (1ull << 63);
		if (method == 0 && rest_zero && (l[0] & 0x3f))
			luns[i] = scsi_get64(l) | (1ull << 63); /* a bus other than 0 */
	}
	if (ret_total)
		*ret_total = total;
	return (int)MIN_SZ(present, cap);
}

UDK_EXPORT void
udk_scsi_lun_encode(uint64_t lun, uint8_t out[8])
{
	memset(out, 0, 8);
	if (lun < 256) {
		out[1] = (uint8_t)lun;
	} else {
		out[0] = (uint8_t)(0x40 | ((lun >> 8) & 0x3f));
		out[1] = (uint8_t)lun;
	}
}

/* ---- READ CAPACITY ---- */

UDK_EXPORT int
udk_scsi_capacity10_decode(const void *data, size_t len, struct udk_scsi_capacity *ret)
{
	const uint8_t *b = data;

	if (!ret)
		return -EINVAL;
	memset(ret, 0, sizeof(*ret));
	if (!b || len < 8)
		return udk_set_reason(-EINVAL, "READ CAPACITY(10) data is 8 bytes, not %zu", len);
	ret->last_lba = scsi_get32(b);
	ret->block_size = scsi_get32(b + 4);
	return 0;
}

UDK_EXPORT int
udk_scsi_capacity16_decode(const void *data, size_t len, struct udk_scsi_capacity *ret)
{
	const uint8_t *b = data;

	if (!ret)
		return -EINVAL;
	memset(ret, 0, sizeof(*ret));
	if (!b || len < 12)
		return udk_set_reason(-EINVAL, "READ CAPACITY(16) data needs at least 12 bytes, not %zu", len);
	ret->last_lba = scsi_get64(b);
	ret->block_size = scsi_get32(b + 8);
	if (len >= 14) {
		ret->protection = (b[12] & 1) ? (uint8_t)(((b[12] >> 1) & 7) + 1) : 0;
		ret->physical_exponent = b[13] & 0xf;
	}
	if (len >= 15)
		ret->thin_provisioned = b[14] & 0x80;
	return 0;
}
