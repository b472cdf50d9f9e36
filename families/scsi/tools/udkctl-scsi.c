/* SPDX-License-Identifier: MIT */
/*
 * udkctl-scsi - `udkctl scsi PATH [OPTIONS] CDB...`: send one raw CDB to a
 * SCSI LUN, as sg3_utils' sg_raw does, and print the status, the data and
 * the sense in words.  udkctl runs this program for its "scsi" command
 * (the SCSI family supplies it; udkctl does not know SCSI).
 *
 * PATH is a LUN (an IOSCSIPeripheralDeviceNub, e.g.
 * /PCI0/hba0/SimHBA/Target0-LUN0) or a controller with --target/--lun.
 * The CDB goes through the controller driver's task user client, so the
 * app needs access to that driver (its allow-any-userclient-access, or
 * `udkctl access grant`).
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <udk/client.h>
#include <udk/families/scsi.h>

#include "scsi-private.h"

static void
usage(FILE *f)
{
	fprintf(f,
		"Usage: udkctl scsi PATH [OPTIONS] CDB-BYTE...\n"
		"Send one CDB (hex bytes, e.g. 12 00 00 00 24 00) to the LUN at PATH and show the answer.\n\n"
		"  -r, --request N     read N bytes from the target (data-in)\n"
		"  -s, --send N        write N bytes to the target (data-out), from --infile or zeros\n"
		"  -i, --infile FILE   the bytes to send\n"
		"  -o, --outfile FILE  write the data read to FILE instead of showing it\n"
		"  -t, --timeout MS    the task's timeout (default: the controller's)\n"
		"      --target T      on a controller: the target id (default 0)\n"
		"      --lun L         on a controller: the LUN (default 0)\n"
		"  -d, --decode        decode the data: INQUIRY, its VPD pages, READ CAPACITY, REPORT LUNS\n"
		"  -b, --binary        write the data read to stdout as it is\n"
		"  -h, --help\n\n"
		"Exit status: 0 GOOD, 1 CHECK CONDITION or another non-GOOD status, 2 usage, 3 not delivered.\n");
}

static void
hexdump(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i += 16) {
		printf(" %04zx ", i);
		for (size_t j = 0; j < 16; j++)
			if (i + j < n)
				printf(" %02x", p[i + j]);
			else
				printf("   ");
		printf("  ");
		for (size_t j = 0; j < 16 && i + j < n; j++)
			putchar(isprint(p[i + j]) ? p[i + j] : '.');
		putchar('\n');
	}
}

static void
decode(const uint8_t *cdb, size_t cdb_len, const uint8_t *d, size_t n)
{
	if (cdb[0] == 0x12 && !(cdb[1] & 1)) {
		struct udk_scsi_inquiry q;
		if (udk_scsi_inquiry_decode(d, n, &q) == 0) {
			printf("Peripheral qualifier: %u\n", q.peripheral_qualifier);
			printf("Peripheral device type: 0x%02x (%s)\n", q.device_type, udk_scsi_device_type_name(q.device_type));
			printf("Removable: %s\n", q.removable ? "yes" : "no");
			printf("Version: 0x%02x\n", q.version);
			printf("Response data format: %u\n", q.response_data_format);
			printf("Vendor identification: %s\n", q.vendor);
			printf("Product identification: %s\n", q.product);
			printf("Product revision level: %s\n", q.revision);
		} else {
			printf("INQUIRY data: %s\n", udk_error_reason());
		}
	} else if (cdb[0] == 0x12 && cdb_len >= 3) {
		char buf[256];
		if (cdb[2] == 0x00) {
			uint8_t pages[64];
			size_t k = 0;
			if (udk_scsi_vpd_supported_decode(d, n, pages, sizeof(pages), &k) == 0) {
				printf("Supported VPD pages:");
				for (size_t i = 0; i < k && i < sizeof(pages); i++)
					printf(" 0x%02x", pages[i]);
				printf("\n");
			}
		} else if (cdb[2] == 0x80 && udk_scsi_vpd_serial_decode(d, n, buf, sizeof(buf)) == 0) {
			printf("Unit serial number: %s\n", buf);
		} else if (cdb[2] == 0x83 && udk_scsi_vpd_designator_decode(d, n, buf, sizeof(buf)) == 0) {
			printf("Device identifier: %s\n", buf);
		}
	} else if (cdb[0] == 0x25) {
		struct udk_scsi_capacity c;
		if (udk_scsi_capacity10_decode(d, n, &c) == 0)
			printf("Last LBA: %llu\nBlock size: %u\nCapacity: %llu bytes\n", (unsigned long long)c.last_lba,
			       c.block_size, (unsigned long long)((c.last_lba + 1) * c.block_size));
	} else if (cdb[0] == 0x9e && cdb_len >= 2 && (cdb[1] & 0x1f) == 0x10) {
		struct udk_scsi_capacity c;
		if (udk_scsi_capacity16_decode(d, n, &c) == 0)
			printf("Last LBA: %llu\nBlock size: %u\nCapacity: %llu bytes\nThin provisioning: %s\n"
			       "Protection: %s\nLogical blocks per physical block exponent: %u\n",
			       (unsigned long long)c.last_lba, c.block_size,
			       (unsigned long long)((c.last_lba + 1) * c.block_size), c.thin_provisioned ? "yes" : "no",
			       c.protection ? "enabled" : "none", c.physical_exponent);
	} else if (cdb[0] == 0xa0) {
		uint64_t luns[256];
		size_t total = 0;
		int k = udk_scsi_report_luns_decode(d, n, luns, 256, &total);
		if (k >= 0) {
			printf("LUNs: %zu\n", total);
			for (int i = 0; i < k; i++)
				printf("  LUN %llu\n", (unsigned long long)luns[i]);
		}
	}
}

static int
parse_num(const char *s, uint64_t *ret)
{
	char *end;

	errno = 0;
	*ret = strtoull(s, &end, 0);
	return errno || !*s || *end ? -1 : 0;
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "request", required_argument, NULL, 'r' }, { "send", required_argument, NULL, 's' },
		{ "infile", required_argument, NULL, 'i' },  { "outfile", required_argument, NULL, 'o' },
		{ "timeout", required_argument, NULL, 't' }, { "target", required_argument, NULL, 'T' },
		{ "lun", required_argument, NULL, 'L' },     { "decode", no_argument, NULL, 'd' },
		{ "binary", no_argument, NULL, 'b' },	      { "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct udk_scsi_uc_cdb in;
	struct udk_scsi_uc_result out;
	struct udk_client *client = NULL;
	struct udk_connection *conn = NULL;
	uint64_t id = 0, v, request = 0, send = 0;
	const char *path, *infile = NULL, *outfile = NULL;
	bool want_decode = false, binary = false, json = getenv("UDKCTL_JSON") != NULL;
	uint8_t *data = NULL;
	size_t out_len = sizeof(out), n;
	char line[1024], cdbtext[128];
	int o, r;

	memset(&in, 0, sizeof(in));
	if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	path = argv[1];
	optind = 2;
	while ((o = getopt_long(argc, argv, "+r:s:i:o:t:dbh", opts, NULL)) != -1) {
		switch (o) {
		case 'r':
		case 's':
			if (parse_num(optarg, &v) < 0 || v > (64u << 20)) {
				fprintf(stderr, "udkctl scsi: %s wants a byte count up to 64 MiB, not \"%s\"\n",
					o == 'r' ? "--request" : "--send", optarg);
				return 2;
			}
			*(o == 'r' ? &request : &send) = v;
			break;
		case 'i':
			infile = optarg;
			break;
		case 'o':
			outfile = optarg;
			break;
		case 't':
			if (parse_num(optarg, &v) < 0 || v > 3600000) {
				fprintf(stderr, "udkctl scsi: --timeout wants milliseconds\n");
				return 2;
			}
			in.timeout_ms = (uint32_t)v;
			break;
		case 'T':
		case 'L':
			if (parse_num(optarg, &v) < 0) {
				fprintf(stderr, "udkctl scsi: --%s wants a number\n", o == 'T' ? "target" : "lun");
				return 2;
			}
			*(o == 'T' ? &in.target : &in.lun) = v;
			in.flags |= 1;
			break;
		case 'd':
			want_decode = true;
			break;
		case 'b':
			binary = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (request && send) {
		fprintf(stderr, "udkctl scsi: a CDB reads or writes data, not both (--request or --send)\n");
		return 2;
	}
	if (optind >= argc) {
		fprintf(stderr, "udkctl scsi: give the CDB as hex bytes, e.g. 12 00 00 00 24 00\n");
		return 2;
	}
	for (int i = optind; i < argc; i++) {
		/* bytes may also come glued: 120000002400 */
		const char *s = argv[i];
		size_t len = strlen(s);
		if (len % 2 || len == 0) {
			fprintf(stderr, "udkctl scsi: \"%s\" is not hex bytes\n", s);
			return 2;
		}
		for (size_t k = 0; k < len; k += 2) {
			char b[3] = { s[k], s[k + 1], 0 };
			char *end;
			unsigned long x = strtoul(b, &end, 16);
			if (*end || !isxdigit((unsigned char)b[0]) || !isxdigit((unsigned char)b[1])) {
				fprintf(stderr, "udkctl scsi: \"%s\" is not hex bytes\n", s);
				return 2;
			}
			if (in.cdb_length < UDK_SCSI_CDB_MAX)
				in.cdb[in.cdb_length] = (uint8_t)x;
			in.cdb_length++;
		}
	}
	if (in.cdb_length > UDK_SCSI_CDB_MAX) {
		fprintf(stderr,
			"udkctl scsi: EMSGSIZE: the CDB has %u bytes; SCSI CDBs through udk are 6, 10, 12 or 16 bytes "
			"(refused before it was sent)\n",
			in.cdb_length);
		return 2;
	}
	if (request || send) {
		in.requested_count = request ? request : send;
		in.data_length = in.requested_count;
		in.direction = request ? UDK_SCSI_DATA_FROM_TARGET : UDK_SCSI_DATA_TO_TARGET;
		data = calloc(1, (size_t)in.requested_count);
		if (!data) {
			fprintf(stderr, "udkctl scsi: out of memory\n");
			return 3;
		}
		in.data_address = (uintptr_t)data;
		if (send && infile) {
			int fd = open(infile, O_RDONLY | O_CLOEXEC);
			ssize_t k = fd >= 0 ? read(fd, data, (size_t)send) : -1;
			if (fd >= 0)
				close(fd);
			if (k < 0) {
				fprintf(stderr, "udkctl scsi: cannot read %s: %m\n", infile);
				return 2;
			}
		}
	}
	r = udk_client_new(NULL, &client);
	if (r < 0) {
		fprintf(stderr, "udkctl scsi: %s: %s\n", udk_error_name(r), udk_error_reason() ? udk_error_reason() : udk_strerror(r));
		return 3;
	}
	r = udk_client_lookup_path(client, path, &id);
	if (r >= 0)
		r = udk_client_open(client, id, 0, &conn);
	if (r < 0) {
		fprintf(stderr, "udkctl scsi: %s: %s: %s\n", path, udk_error_name(r),
			udk_error_reason() ? udk_error_reason() : udk_strerror(r));
		udk_client_unref(client);
		return 3;
	}
	udk_scsi_cdb_describe(in.cdb, in.cdb_length, cdbtext, sizeof(cdbtext));
	{
		/* the data buffer goes by address: exposed to the driver for this call */
		struct udk_memory_range range = { data, in.requested_count,
						  in.direction == UDK_SCSI_DATA_FROM_TARGET ? UDK_MEMORY_DIRECTION_IN
											 : UDK_MEMORY_DIRECTION_OUT };
		struct udk_call_args ca = { .struct_size = sizeof(ca), .struct_input = &in, .struct_input_size = sizeof(in),
					    .struct_output = &out, .struct_output_size = out_len, .ranges = &range,
					    .n_ranges = data ? 1 : 0 };
		r = udk_connection_call_args(conn, UDK_SCSI_UC_SEND_CDB, &ca);
		out_len = ca.struct_output_size;
	}
	if (r < 0) {
		fprintf(stderr, "udkctl scsi: %s was not sent: %s: %s\n", cdbtext, udk_error_name(r),
			udk_error_reason() ? udk_error_reason() : udk_strerror(r));
		udk_connection_unref(conn);
		udk_client_unref(client);
		free(data);
		return 3;
	}
	n = (size_t)MIN(out.realized_count, in.requested_count);
	if (json) {
		printf("{\"cdb\": \"%s\", \"service_response\": \"%s\", \"status\": %u, \"status_name\": \"%s\", "
		       "\"error\": \"%s\", \"realized\": %llu, \"sense\": \"",
		       cdbtext, udk_scsi_service_response_name(out.service_response), out.status,
		       udk_scsi_status_name((uint8_t)out.status), out.error ? udk_error_name(out.error) : "",
		       (unsigned long long)out.realized_count);
		for (uint32_t i = 0; i < out.sense_length; i++)
			printf("%02x", out.sense[i]);
		printf("\", \"data\": \"");
		for (size_t i = 0; i < n && request; i++)
			printf("%02x", data[i]);
		printf("\"}\n");
	} else if (out.error) {
		printf("%s: not completed at the target: %s: %s\n", cdbtext, udk_error_name(out.error), out.reason);
	} else {
		printf("%s\n", cdbtext);
		printf("Service response: %s\n", udk_scsi_service_response_name(out.service_response));
		printf("SCSI status: %s (0x%02x)\n", udk_scsi_status_name((uint8_t)out.status), out.status);
		if (request && !binary && !outfile) {
			printf("Received %zu bytes of data:\n", n);
			hexdump(data, n);
			if (want_decode && out.status == 0)
				decode(in.cdb, in.cdb_length, data, n);
		} else if (send) {
			printf("Sent %llu bytes of data\n", (unsigned long long)out.realized_count);
		}
		if (out.sense_length) {
			printf("Sense data (%u bytes):\n", out.sense_length);
			hexdump(out.sense, out.sense_length);
			udk_scsi_sense_describe(out.sense, out.sense_length, line, sizeof(line));
			printf("Sense: %s\n", line);
			udk_scsi_explain(in.cdb, in.cdb_length, out.sense, out.sense_length, line, sizeof(line));
			printf("%s\n", line);
		}
	}
	if (request && (binary || outfile)) {
		FILE *f = outfile ? fopen(outfile, "we") : stdout;
		if (!f || fwrite(data, 1, n, f) != n) {
			fprintf(stderr, "udkctl scsi: cannot write %s: %m\n", outfile ? outfile : "stdout");
			r = -EIO;
		}
		if (f && outfile)
			fclose(f);
	}
	udk_connection_unref(conn);
	udk_client_unref(client);
	free(data);
	if (r < 0)
		return 3;
	if (out.error)
		return 3;
	return out.status == 0 ? 0 : 1;
}
