/* SPDX-License-Identifier: MIT */
/*
 * dtd-check DTD FILE - validate FILE against DTD with libxml2, as an editor
 * or xmllint --dtdvalid would.  Exit 0 valid, 1 invalid, 3 not well-formed,
 * 2 usage.  run-tests.py uses it to show that tools/udk-iig/udk-iig.dtd and
 * the checks udk-iig makes itself agree.
 */
#include <stdio.h>

#include <libxml/parser.h>
#include <libxml/valid.h>

int
main(int argc, char **argv)
{
	xmlDtdPtr dtd;
	xmlDocPtr doc;
	xmlValidCtxtPtr v;
	int ok;

	if (argc != 3) {
		fprintf(stderr, "usage: dtd-check DTD FILE\n");
		return 2;
	}
	dtd = xmlParseDTD(NULL, (const xmlChar *)argv[1]);
	if (!dtd) {
		fprintf(stderr, "dtd-check: cannot read the DTD %s\n", argv[1]);
		return 2;
	}
	doc = xmlReadFile(argv[2], NULL, XML_PARSE_NONET);
	if (!doc) {
		xmlFreeDtd(dtd);
		return 3;
	}
	v = xmlNewValidCtxt();
	ok = v && xmlValidateDtd(v, doc, dtd);
	xmlFreeValidCtxt(v);
	xmlFreeDoc(doc);
	xmlFreeDtd(dtd);
	xmlCleanupParser();
	return ok ? 0 : 1;
}
