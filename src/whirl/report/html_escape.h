/* html_escape.h - writing untrusted text (values, error messages, message
 * bodies, file names) into HTML, SVG and inline scripts without letting it
 * become markup or code.
 */
#ifndef RAFTKV_WHIRL_REPORT_HTML_ESCAPE_H
#define RAFTKV_WHIRL_REPORT_HTML_ESCAPE_H

#include <stdio.h>

/* Text content or a quoted attribute value, in HTML or SVG (XML): & < > " '
 * become entities; other control characters but \n and \t are dropped, since
 * XML refuses them. NULL writes nothing. */
void html_escape(FILE *f, const char *s);

/* A JSON string literal (with its quotes) that is also safe inside an HTML
 * <script> element: '<', '>' and '&' are written as \u escapes, so no
 * "</script>" can end the element. NULL writes null. */
void html_script_string(FILE *f, const char *s);

/* A path segment for an href: unreserved characters stay, others %XX. */
void html_url_segment(FILE *f, const char *s);

#endif
