/* The fixed parts of the timeline page (trace_html.c): its style sheet, its controls and its
 * script, inlined into every page so that it fetches nothing. */
#ifndef BALLOT_TRACE_TRACE_HTML_ASSETS_H
#define BALLOT_TRACE_TRACE_HTML_ASSETS_H

/* Each a list of lines ending in NULL. */
extern const char *const trace_html_css[];
extern const char *const trace_html_controls[];
extern const char *const trace_html_js[];

#endif
