"""Validates an XML document against an ISO Schematron schema with SaxonC-HE (saxonche).

Usage: schematron.py SCHEMA.sch DOCUMENT.xml
Prints every fired report / failed assert and exits 1 if there is any, 0 otherwise.

ETDA's e-Tax Schematron (queryBinding xslt2) uses only sch:ns, sch:pattern, sch:rule,
sch:report and sch:assert. This compiles that subset to XSLT 2.0 the way the ISO skeleton
does (one mode per pattern, the first matching rule of a pattern fires for a node, the
document walked once per pattern) and runs it with Saxon, which evaluates every XPath 2.0 test.
Any other Schematron element makes it stop (exit 2) instead of silently ignoring a rule.
"""
import sys
import xml.etree.ElementTree as ET
from xml.sax.saxutils import quoteattr

from saxonche import PySaxonProcessor

SCH = "http://purl.oclc.org/dsdl/schematron"
SUPPORTED = {"schema", "ns", "pattern", "rule", "report", "assert", "title", "p"}


def compile_schema(path):
    root = ET.parse(path).getroot()
    for el in root.iter():
        if el.tag is ET.Comment or not isinstance(el.tag, str):
            continue
        ns, _, local = el.tag[1:].partition("}")
        if ns == SCH and local not in SUPPORTED:
            sys.stderr.write(f"unsupported Schematron element sch:{local}\n")
            sys.exit(2)
    ns_decls = " ".join(
        f"xmlns:{n.get('prefix')}={quoteattr(n.get('uri'))}" for n in root.findall(f"{{{SCH}}}ns")
    )
    out = [
        '<xsl:stylesheet version="2.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform" '
        f"{ns_decls}>",
        '<xsl:output method="text"/>',
        '<xsl:template match="/">',
    ]
    patterns = root.findall(f"{{{SCH}}}pattern")
    for i, _ in enumerate(patterns):
        out.append(f'<xsl:apply-templates select="/" mode="p{i}"/>')
    out.append("</xsl:template>")
    for i, pattern in enumerate(patterns):
        rules = pattern.findall(f"{{{SCH}}}rule")
        for j, rule in enumerate(rules):
            # Earlier rules win within a pattern, as the skeleton's priorities do.
            prio = len(rules) - j + 1000
            out.append(
                f'<xsl:template match={quoteattr(rule.get("context"))} mode="p{i}" priority="{prio}">'
            )
            for check in rule:
                if not isinstance(check.tag, str):
                    continue
                local = check.tag.split("}")[1]
                test = check.get("test")
                text = " ".join("".join(check.itertext()).split())
                cond = test if local == "report" else f"not({test})"
                out.append(
                    f"<xsl:if test={quoteattr(cond)}><xsl:text>FAILED at </xsl:text>"
                    f'<xsl:value-of select="path()"/><xsl:text>: {escape(text)}&#10;</xsl:text></xsl:if>'
                )
            out.append(f'<xsl:apply-templates select="@*|node()" mode="p{i}"/>')
            out.append("</xsl:template>")
        out.append(
            f'<xsl:template match="@*|node()" mode="p{i}" priority="-1">'
            f'<xsl:apply-templates select="@*|node()" mode="p{i}"/></xsl:template>'
        )
    out.append("</xsl:stylesheet>")
    return "\n".join(out)


def escape(s):
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("{", "{{").replace("}", "}}")


def main():
    schema, document = sys.argv[1], sys.argv[2]
    xslt = compile_schema(schema)
    with PySaxonProcessor(license=False) as proc:
        x30 = proc.new_xslt30_processor()
        exe = x30.compile_stylesheet(stylesheet_text=xslt)
        result = exe.transform_to_string(source_file=document)
    result = (result or "").strip()
    if result:
        print(result)
        sys.exit(1)
    print("valid")


if __name__ == "__main__":
    main()
