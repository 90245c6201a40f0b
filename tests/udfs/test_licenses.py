import itertools
import textwrap

import pytest

from commitpack.udfs import licenses

# Fixtures: the distinctive portions of each canonical text, verbatim, with made-up holders.

MIT = """\
MIT License

Copyright (c) 2021 Jane Example

Permission is hereby granted, free of charge, to any person obtaining a copy
of this software and associated documentation files (the "Software"), to deal
in the Software without restriction, including without limitation the rights
to use, copy, modify, merge, publish, distribute, sublicense, and/or sell
copies of the Software, and to permit persons to whom the Software is
furnished to do so, subject to the following conditions:

The above copyright notice and this permission notice shall be included in all
copies or substantial portions of the Software.

THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR
IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,
FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE
AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER
LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM,
OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE
SOFTWARE.
"""

MIT_MARKDOWN = """\
# MIT License

**Copyright © 2019 [Acme Widgets, Inc.](https://acme-widgets.example)**

Permission is hereby granted, free of charge, to any person obtaining a copy of this software and associated documentation files (the “Software”), to deal in the Software without restriction, including without limitation the rights to use, copy, modify, merge, publish, distribute, sublicense, and/or sell copies of the Software, and to permit persons to whom the Software is furnished to do so, subject to the following conditions:

> The above copyright notice and this permission notice shall be included in all copies or substantial portions of the Software.

_THE SOFTWARE IS PROVIDED “AS IS”, WITHOUT WARRANTY OF ANY KIND, EXPRESS OR IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY, FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT._
"""

# MIT-0 drops the notice condition; licensee does not call it mit.
MIT_NO_ATTRIBUTION = """\
MIT No Attribution

Copyright 2022 Example Labs

Permission is hereby granted, free of charge, to any person obtaining a copy of this
software and associated documentation files (the "Software"), to deal in the Software
without restriction, including without limitation the rights to use, copy, modify,
merge, publish, distribute, sublicense, and/or sell copies of the Software, and to
permit persons to whom the Software is furnished to do so.

THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR IMPLIED,
INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY, FITNESS FOR A
PARTICULAR PURPOSE AND NONINFRINGEMENT.
"""

_BSD_CONDITIONS = """\
Redistribution and use in source and binary forms, with or without
modification, are permitted provided that the following conditions are met:

1. Redistributions of source code must retain the above copyright notice, this
   list of conditions and the following disclaimer.

2. Redistributions in binary form must reproduce the above copyright notice,
   this list of conditions and the following disclaimer in the documentation
   and/or other materials provided with the distribution.
"""

_BSD_NAME_CLAUSE = """
3. Neither the name of the copyright holder nor the names of its
   contributors may be used to endorse or promote products derived from
   this software without specific prior written permission.
"""

_BSD_DISCLAIMER = """
THIS SOFTWARE IS PROVIDED BY THE COPYRIGHT HOLDERS AND CONTRIBUTORS "AS IS"
AND ANY EXPRESS OR IMPLIED WARRANTIES, INCLUDING, BUT NOT LIMITED TO, THE
IMPLIED WARRANTIES OF MERCHANTABILITY AND FITNESS FOR A PARTICULAR PURPOSE ARE
DISCLAIMED. IN NO EVENT SHALL THE COPYRIGHT HOLDER OR CONTRIBUTORS BE LIABLE
FOR ANY DIRECT, INDIRECT, INCIDENTAL, SPECIAL, EXEMPLARY, OR CONSEQUENTIAL
DAMAGES (INCLUDING, BUT NOT LIMITED TO, PROCUREMENT OF SUBSTITUTE GOODS OR
SERVICES; LOSS OF USE, DATA, OR PROFITS; OR BUSINESS INTERRUPTION) HOWEVER
CAUSED AND ON ANY THEORY OF LIABILITY, WHETHER IN CONTRACT, STRICT LIABILITY,
OR TORT (INCLUDING NEGLIGENCE OR OTHERWISE) ARISING IN ANY WAY OUT OF THE USE
OF THIS SOFTWARE, EVEN IF ADVISED OF THE POSSIBILITY OF SUCH DAMAGE.
"""

BSD_2 = (
    "BSD 2-Clause License\n\nCopyright (c) 2018, Example Robotics Ltd.\nAll rights reserved.\n\n"
    + _BSD_CONDITIONS
    + _BSD_DISCLAIMER
)

BSD_3 = (
    "BSD 3-Clause License\n\nCopyright (c) 2016-2020, Northwind Data Systems\nAll rights reserved.\n\n"
    + _BSD_CONDITIONS
    + _BSD_NAME_CLAUSE
    + _BSD_DISCLAIMER
)

# The original 4-clause BSD adds the advertising clause; it is not in the key set.
BSD_4 = (
    "Copyright (c) 1994 The Example Group.  All rights reserved.\n\n"
    + _BSD_CONDITIONS
    + """
3. All advertising materials mentioning features or use of this software
   must display the following acknowledgement:
   This product includes software developed by the Example Group.
"""
    + _BSD_NAME_CLAUSE.replace("3.", "4.")
    + _BSD_DISCLAIMER
)

ISC = """\
ISC License

Copyright (c) 2020, Example Tools Contributors

Permission to use, copy, modify, and/or distribute this software for any
purpose with or without fee is hereby granted, provided that the above
copyright notice and this permission notice appear in all copies.

THE SOFTWARE IS PROVIDED "AS IS" AND THE AUTHOR DISCLAIMS ALL WARRANTIES
WITH REGARD TO THIS SOFTWARE INCLUDING ALL IMPLIED WARRANTIES OF
MERCHANTABILITY AND FITNESS. IN NO EVENT SHALL THE AUTHOR BE LIABLE FOR
ANY SPECIAL, DIRECT, INDIRECT, OR CONSEQUENTIAL DAMAGES OR ANY DAMAGES
WHATSOEVER RESULTING FROM LOSS OF USE, DATA OR PROFITS, WHETHER IN AN
ACTION OF CONTRACT, NEGLIGENCE OR OTHER TORTIOUS ACTION, ARISING OUT OF
OR IN CONNECTION WITH THE USE OR PERFORMANCE OF THIS SOFTWARE.
"""

# 0BSD is ISC without the notice condition.
ZERO_BSD = """\
Copyright (C) 2023 by Example Person <person@example.org>

Permission to use, copy, modify, and/or distribute this software for any
purpose with or without fee is hereby granted.

THE SOFTWARE IS PROVIDED "AS IS" AND THE AUTHOR DISCLAIMS ALL WARRANTIES
WITH REGARD TO THIS SOFTWARE INCLUDING ALL IMPLIED WARRANTIES OF
MERCHANTABILITY AND FITNESS.
"""

APACHE_2 = """\

                                 Apache License
                           Version 2.0, January 2004
                        http://www.apache.org/licenses/

   TERMS AND CONDITIONS FOR USE, REPRODUCTION, AND DISTRIBUTION

   1. Definitions.

      "License" shall mean the terms and conditions for use, reproduction,
      and distribution as defined by Sections 1 through 9 of this document.

      "Licensor" shall mean the copyright owner or entity authorized by
      the copyright owner that is granting the License.

      "Legal Entity" shall mean the union of the acting entity and all
      other entities that control, are controlled by, or are under common
      control with that entity.

   END OF TERMS AND CONDITIONS

   APPENDIX: How to apply the Apache License to your work.

      To apply the Apache License to your work, attach the following
      boilerplate notice, with the fields enclosed by brackets "[]"
      replaced with your own identifying information.

   Copyright 2017 Example Cloud Authors

   Licensed under the Apache License, Version 2.0 (the "License");
   you may not use this file except in compliance with the License.
   You may obtain a copy of the License at

       http://www.apache.org/licenses/LICENSE-2.0

   Unless required by applicable law or agreed to in writing, software
   distributed under the License is distributed on an "AS IS" BASIS,
   WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
   See the License for the specific language governing permissions and
   limitations under the License.
"""

# The appendix boilerplate on its own, as a source-file header comment.
APACHE_2_HEADER = """\
/*
 * Copyright 2017 Example Cloud Authors
 *
 * Licensed under the Apache License, Version 2.0 (the "License");
 * you may not use this file except in compliance with the License.
 * You may obtain a copy of the License at
 *
 *     http://www.apache.org/licenses/LICENSE-2.0
 *
 * Unless required by applicable law or agreed to in writing, software
 * distributed under the License is distributed on an "AS IS" BASIS,
 * WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
 */
"""

GPL_3 = """\
                    GNU GENERAL PUBLIC LICENSE
                       Version 3, 29 June 2007

 Copyright (C) 2007 Free Software Foundation, Inc. <https://fsf.org/>
 Everyone is permitted to copy and distribute verbatim copies
 of this license document, but changing it is not allowed.

                            Preamble

  The GNU General Public License is a free, copyleft license for
software and other kinds of works.

  The licenses for most software and other practical works are designed
to take away your freedom to share and change the works.  By contrast,
the GNU General Public License is intended to guarantee your freedom to
share and change all versions of a program--to make sure it remains free
software for all its users.  We, the Free Software Foundation, use the
GNU General Public License for most of our software; it applies also to
any other work released this way by its authors.  You can apply it to
your programs, too.

  13. Use with the GNU Affero General Public License.

  Notwithstanding any other provision of this License, you have
permission to link or combine any covered work with a work licensed
under version 3 of the GNU Affero General Public License into a single
combined work, and to convey the resulting work.  The terms of this
License will continue to apply to the part which is the covered work,
but the special requirements of the GNU Affero General Public License,
section 13, concerning interaction through a network will apply to the
combination as such.

  The GNU General Public License does not permit incorporating your program
into proprietary programs.  If your program is a subroutine library, you
may consider it more useful to permit linking proprietary applications with
the library.  If this is what you want to do, use the GNU Lesser General
Public License instead of this License.  But first, please read
<https://www.gnu.org/licenses/why-not-lgpl.html>.
"""

GPL_3_NOTICE = """\
Copyright (C) 2015 Example Maintainer

This program is free software: you can redistribute it and/or modify
it under the terms of the GNU General Public License as published by
the Free Software Foundation, either version 3 of the License, or
(at your option) any later version.
"""

GPL_2 = """\
                    GNU GENERAL PUBLIC LICENSE
                       Version 2, June 1991

 Copyright (C) 1989, 1991 Free Software Foundation, Inc.,
 51 Franklin Street, Fifth Floor, Boston, MA 02110-1301 USA
 Everyone is permitted to copy and distribute verbatim copies
 of this license document, but changing it is not allowed.

                            Preamble

  The licenses for most software are designed to take away your
freedom to share and change it.  By contrast, the GNU General Public
License is intended to guarantee your freedom to share and change free
software--to make sure the software is free for all its users.  This
General Public License applies to most of the Free Software
Foundation's software and to any other program whose authors commit to
using it.
"""

LGPL_2_1 = """\
                  GNU LESSER GENERAL PUBLIC LICENSE
                       Version 2.1, February 1999

 Copyright (C) 1991, 1999 Free Software Foundation, Inc.
 51 Franklin Street, Fifth Floor, Boston, MA  02110-1301  USA
 Everyone is permitted to copy and distribute verbatim copies
 of this license document, but changing it is not allowed.

[This is the first released version of the Lesser GPL.  It also counts
 as the successor of the GNU Library Public License, version 2, hence
 the version number 2.1.]

                            Preamble

  The licenses for most software are designed to take away your
freedom to share and change it.  By contrast, the GNU General Public
Licenses are intended to guarantee your freedom to share and change
free software--to make sure the software is free for all its users.

  3. You may opt to apply the terms of the ordinary GNU General Public
License instead of this License to a given copy of the Library.  To do
this, you must alter all the notices that refer to this License, so
that they refer to the ordinary GNU General Public License, version 2,
instead of to this License.
"""

LGPL_2_1_NOTICE = """\
Copyright (C) 2012 Example Library Developers

This library is free software; you can redistribute it and/or
modify it under the terms of the GNU Lesser General Public
License as published by the Free Software Foundation; either
version 2.1 of the License, or (at your option) any later version.
"""

LGPL_3 = """\
                   GNU LESSER GENERAL PUBLIC LICENSE
                       Version 3, 29 June 2007

 Copyright (C) 2007 Free Software Foundation, Inc. <https://fsf.org/>
 Everyone is permitted to copy and distribute verbatim copies
 of this license document, but changing it is not allowed.


  This version of the GNU Lesser General Public License incorporates
the terms and conditions of version 3 of the GNU General Public
License, supplemented by the additional permissions listed below.

  0. Additional Definitions.

  As used herein, "this License" refers to version 3 of the GNU Lesser
General Public License, and the "GNU GPL" refers to version 3 of the GNU
General Public License.
"""

AGPL_3 = """\
                    GNU AFFERO GENERAL PUBLIC LICENSE
                       Version 3, 19 November 2007

 Copyright (C) 2007 Free Software Foundation, Inc. <https://fsf.org/>
 Everyone is permitted to copy and distribute verbatim copies
 of this license document, but changing it is not allowed.

                            Preamble

  The GNU Affero General Public License is a free, copyleft license for
software and other kinds of works, specifically designed to ensure
cooperation with the community in the case of network server software.

  13. Remote Network Interaction; Use with the GNU General Public License.

  Notwithstanding any other provision of this License, you have
permission to link or combine any covered work with a work licensed
under version 3 of the GNU General Public License into a single
combined work, and to convey the resulting work.
"""

# The Library GPL 2.0 (the LGPL's predecessor) is not in the key set, though it names GPL 2.
LIBRARY_GPL_2 = """\
                  GNU LIBRARY GENERAL PUBLIC LICENSE
                       Version 2, June 1991

  3. You may opt to apply the terms of the ordinary GNU General Public
License instead of this License to a given copy of the Library.  To do
this, you must alter all the notices that refer to this License, so
that they refer to the ordinary GNU General Public License, version 2,
instead of to this License.
"""

MPL_2 = """\
Mozilla Public License Version 2.0
==================================

1. Definitions
--------------

1.1. "Contributor"
    means each individual or legal entity that creates, contributes to
    the creation of, or owns Covered Software.

1.12. "Secondary License"
    means either the GNU General Public License, Version 2.0, the GNU
    Lesser General Public License, Version 2.1, the GNU Affero General
    Public License, Version 3.0, or any later versions of those
    licenses.
"""

MPL_2_HEADER = """\
This Source Code Form is subject to the terms of the Mozilla Public
License, v. 2.0. If a copy of the MPL was not distributed with this
file, You can obtain one at http://mozilla.org/MPL/2.0/.
"""

EPL_1 = """\
Eclipse Public License - v 1.0

THE ACCOMPANYING PROGRAM IS PROVIDED UNDER THE TERMS OF THIS ECLIPSE PUBLIC
LICENSE ("AGREEMENT"). ANY USE, REPRODUCTION OR DISTRIBUTION OF THE PROGRAM
CONSTITUTES RECIPIENT'S ACCEPTANCE OF THIS AGREEMENT.

1. DEFINITIONS

"Contribution" means:

a) in the case of the initial Contributor, the initial code and documentation
   distributed under this Agreement, and
b) in the case of each subsequent Contributor:
"""

EPL_2 = """\
Eclipse Public License - v 2.0

    THE ACCOMPANYING PROGRAM IS PROVIDED UNDER THE TERMS OF THIS ECLIPSE
    PUBLIC LICENSE ("AGREEMENT"). ANY USE, REPRODUCTION OR DISTRIBUTION
    OF THE PROGRAM CONSTITUTES RECIPIENT'S ACCEPTANCE OF THIS AGREEMENT.

1. DEFINITIONS

"Secondary License" means either the GNU General Public License,
Version 2.0, or any later versions of that license, including any
exceptions or additional permissions as identified by the initial
Contributor.
"""

UNLICENSE = """\
This is free and unencumbered software released into the public domain.

Anyone is free to copy, modify, publish, use, compile, sell, or
distribute this software, either in source code form or as a compiled
binary, for any purpose, commercial or non-commercial, and by any
means.

In jurisdictions that recognize copyright laws, the author or authors
of this software dedicate any and all copyright interest in the
software to the public domain.

For more information, please refer to <https://unlicense.org>
"""

CC0 = """\
Creative Commons Legal Code

CC0 1.0 Universal

    CREATIVE COMMONS CORPORATION IS NOT A LAW FIRM AND DOES NOT PROVIDE
    LEGAL SERVICES. DISTRIBUTION OF THIS DOCUMENT DOES NOT CREATE AN
    ATTORNEY-CLIENT RELATIONSHIP. CREATIVE COMMONS PROVIDES THIS
    INFORMATION ON AN "AS-IS" BASIS. CREATIVE COMMONS MAKES NO WARRANTIES
    REGARDING THE USE OF THIS DOCUMENT OR THE INFORMATION OR WORKS
    PROVIDED HEREUNDER, AND DISCLAIMS LIABILITY FOR DAMAGES RESULTING FROM
    THE USE OF THIS DOCUMENT OR THE INFORMATION OR WORKS PROVIDED
    HEREUNDER.

Statement of Purpose

The laws of most jurisdictions throughout the world automatically confer
exclusive Copyright and Related Rights (defined below) upon the creator
and subsequent owner(s) (each and all, an "owner") of an original work of
authorship and/or a database (each, a "Work").
"""

ARTISTIC_2 = """\
                       The Artistic License 2.0

            Copyright (c) 2000-2006, The Perl Foundation.

     Everyone is permitted to copy and distribute verbatim copies
      of this license document, but changing it is not allowed.

Preamble

This license establishes the terms under which a given free software
Package may be copied, modified, distributed, and/or redistributed.
The intent is that the Copyright Holder maintains some artistic
control over the development of that Package while still keeping the
Package available as open source and free software.
"""

BSL_1 = """\
Boost Software License - Version 1.0 - August 17th, 2003

Permission is hereby granted, free of charge, to any person or organization
obtaining a copy of the software and accompanying documentation covered by
this license (the "Software") to use, reproduce, display, distribute,
execute, and transmit the Software, and to prepare derivative works of the
Software, and to permit third-parties to whom the Software is furnished to
do so, all subject to the following:

The copyright notices in the Software and this entire statement, including
the above license grant, this restriction and the following disclaimer,
must be included in all copies of the Software, in whole or in part, and
all derivative works of the Software, unless such copies or derivative
works are solely in the form of machine-executable object code generated by
a source language processor.
"""

WTFPL = """\
            DO WHAT THE FUCK YOU WANT TO PUBLIC LICENSE
                    Version 2, December 2004

 Copyright (C) 2014 Example Hacker <hacker@example.net>

 Everyone is permitted to copy and distribute verbatim or modified
 copies of this license document, and changing it is allowed as long
 as the name is changed.

            DO WHAT THE FUCK YOU WANT TO PUBLIC LICENSE
   TERMS AND CONDITIONS FOR COPYING, DISTRIBUTION AND MODIFICATION

  0. You just DO WHAT THE FUCK YOU WANT TO.
"""

ZLIB = """\
zlib License

Copyright (c) 2016 Example Games

This software is provided 'as-is', without any express or implied
warranty. In no event will the authors be held liable for any damages
arising from the use of this software.

Permission is granted to anyone to use this software for any purpose,
including commercial applications, and to alter it and redistribute it
freely, subject to the following restrictions:

1. The origin of this software must not be misrepresented; you must not
   claim that you wrote the original software. If you use this software
   in a product, an acknowledgment in the product documentation would be
   appreciated but is not required.
2. Altered source versions must be plainly marked as such, and must not be
   misrepresented as being the original software.
3. This notice may not be removed or altered from any source distribution.
"""

CANONICAL = {
    "mit": MIT,
    "apache-2.0": APACHE_2,
    "bsd-2-clause": BSD_2,
    "bsd-3-clause": BSD_3,
    "isc": ISC,
    "cc0-1.0": CC0,
    "unlicense": UNLICENSE,
    "mpl-2.0": MPL_2,
    "epl-1.0": EPL_1,
    "epl-2.0": EPL_2,
    "artistic-2.0": ARTISTIC_2,
    "agpl-3.0": AGPL_3,
    "lgpl-2.1": LGPL_2_1,
    "lgpl-3.0": LGPL_3,
    "gpl-2.0": GPL_2,
    "gpl-3.0": GPL_3,
    "bsl-1.0": BSL_1,
    "wtfpl": WTFPL,
    "zlib": ZLIB,
}


def rewrap(text: str, width: int) -> str:
    """Re-flow every paragraph to ``width`` columns, as projects do when they copy a license."""
    paragraphs = (" ".join(p.split()) for p in text.split("\n\n"))
    return "\n\n".join(textwrap.fill(p, width, break_on_hyphens=False) for p in paragraphs if p)


def test_every_key_has_a_canonical_fixture():
    assert sorted(CANONICAL) == sorted(licenses.LICENSE_KEYS)


@pytest.mark.parametrize("key", sorted(CANONICAL))
def test_canonical_texts(key):
    assert licenses.classify(CANONICAL[key]) == key


@pytest.mark.parametrize("width", [40, 66, 100, 10_000])
@pytest.mark.parametrize("key", sorted(CANONICAL))
def test_wrapping_does_not_matter(key, width):
    assert licenses.classify(rewrap(CANONICAL[key], width)) == key


@pytest.mark.parametrize(
    "text, key",
    [
        (MIT_MARKDOWN, "mit"),
        ("# " + MIT.replace("\n", "\n# "), "mit"),  # shell-comment markers
        (MIT.replace('"', "\u201c").replace("--", "\u2014"), "mit"),
        (APACHE_2_HEADER, "apache-2.0"),
        (
            "Licensed under the [Apache License, Version 2.0](https://www.apache.org/licenses/LICENSE-2.0).",
            "apache-2.0",
        ),
        (GPL_3_NOTICE, "gpl-3.0"),
        (LGPL_2_1_NOTICE, "lgpl-2.1"),
        (MPL_2_HEADER, "mpl-2.0"),
        ("# GNU GENERAL PUBLIC LICENSE\nVersion 3, 29 June 2007\n", "gpl-3.0"),
        (
            "GNU LESSER GENERAL PUBLIC LICENSE\n=================================\n\n_Version 2.1, February 1999_\n",
            "lgpl-2.1",
        ),
        ("## Creative Commons Legal Code\n\n### CC0 1.0 Universal\n", "cc0-1.0"),
        ("DO WHAT THE F*CK YOU WANT TO PUBLIC LICENSE\n", "wtfpl"),
    ],
)
def test_formatting_variants(text, key):
    assert licenses.classify(text) == key


@pytest.mark.parametrize(
    "text, key",
    [
        (GPL_3.split("  The licenses for most software")[0].split("Preamble")[1], "gpl-3.0"),
        (AGPL_3.split("Preamble")[1].split("13.")[0], "agpl-3.0"),
        (GPL_2.split("Preamble")[1], "gpl-2.0"),
    ],
)
def test_gnu_preambles_without_their_heading(text, key):
    assert licenses.classify(text) == key


@pytest.mark.parametrize(
    "text, not_key",
    [
        (BSD_2, "bsd-3-clause"),
        (BSD_3, "bsd-2-clause"),
        (ISC, "mit"),
        (MIT, "isc"),
        (BSL_1, "mit"),
        (GPL_3, "agpl-3.0"),
        (GPL_3, "lgpl-3.0"),
        (AGPL_3, "gpl-3.0"),
        (LGPL_2_1, "gpl-2.0"),
        (LGPL_3, "gpl-3.0"),
        (EPL_1, "epl-2.0"),
        (EPL_2, "epl-1.0"),
        (EPL_2, "gpl-2.0"),
        (MPL_2, "gpl-2.0"),
        (MPL_2, "lgpl-2.1"),
    ],
)
def test_confusable_pairs_stay_apart(text, not_key):
    assert licenses.classify(text) != not_key


@pytest.mark.parametrize(
    "text",
    [
        MIT_NO_ATTRIBUTION,
        ZERO_BSD,
        BSD_4,
        LIBRARY_GPL_2,
        "Apache License\nVersion 1.1\n",
        "Copyright (c) 2024 Example Corp. All rights reserved. Proprietary and confidential.",
        "lorem ipsum dolor sit amet \x00\x01 ### ***",
        "",
        "  \n\t\n",
    ],
)
def test_unknown_and_empty_texts_are_other(text):
    assert licenses.classify(text) == "other"


def test_the_license_that_starts_first_is_the_files_own():
    third_party = "\n\nThis product bundles zlib, which is available under the zlib license:\n\n" + ZLIB
    assert licenses.classify(APACHE_2 + third_party) == "apache-2.0"
    assert licenses.classify(MIT + "\n\nBundled code:\n\n" + BSD_3) == "mit"
    assert licenses.classify(BSD_3 + "\n\nBundled code:\n\n" + MIT) == "bsd-3-clause"


@pytest.mark.parametrize(
    "name",
    [
        "LICENSE",
        "license",
        "License.md",
        "LICENCE.txt",
        "COPYING",
        "copying.rst",
        "UNLICENSE",
        "COPYRIGHT",
        "LICENSE-MIT",
        "MIT-LICENSE",
        "mit-license.markdown",
        "LICENSE-APACHE",
        "LICENSE_APACHE-2.0.txt",
        "COPYING.LESSER",
    ],
)
def test_license_file_names(name):
    assert licenses.is_license_file(name)


@pytest.mark.parametrize(
    "name",
    [
        "README.md",
        "LICENSE.html",
        "license.py",
        "LICENSES",
        "LICENSE-THIRD-PARTY",
        "THIRD_PARTY_LICENSES.txt",
        "NOTICE",
        "package.json",
        "LICENSE.md.bak",
    ],
)
def test_other_file_names(name):
    assert not licenses.is_license_file(name)


@pytest.mark.parametrize(
    "names, expected",
    [
        (["README.md", "COPYING", "LICENSE.md"], "LICENSE.md"),
        (["LICENSE.txt", "LICENSE"], "LICENSE"),
        (["LICENSE-APACHE", "LICENSE-MIT"], "LICENSE-MIT"),
        (["LICENSE-MIT", "LICENSE-ISC"], "LICENSE-ISC"),
        (["COPYING.LESSER", "COPYING"], "COPYING"),
        (["MIT-LICENSE", "UNLICENSE", "copying.txt"], "copying.txt"),
        (["UNLICENSE", "COPYRIGHT"], "COPYRIGHT"),
        (["license", "LICENSE"], "LICENSE"),
        (["README.md", "setup.py"], None),
        ([], None),
    ],
)
def test_pick_license_file_is_deterministic(names, expected):
    for ordering in itertools.permutations(names):
        assert licenses.pick_license_file(list(ordering)) == expected


def test_detect_prefers_license_over_copying():
    files = {"COPYING": GPL_3.encode(), "LICENSE": MIT.encode(), "README.md": b"# Example\n"}
    assert licenses.detect(files) == ("mit", "LICENSE")


def test_detect_matches_names_case_insensitively():
    assert licenses.detect({"license.MD": MIT_MARKDOWN.encode()}) == ("mit", "license.MD")
    assert licenses.detect({"Copying": LGPL_2_1.encode()}) == ("lgpl-2.1", "Copying")


def test_detect_without_a_license_file():
    assert licenses.detect({"README.md": MIT.encode(), "src": b""}) == (None, None)
    assert licenses.detect({}) == (None, None)


def test_detect_decodes_bad_utf8_with_replacement():
    latin1 = MIT.replace("(c)", "\u00a9").encode("latin-1")  # a bare 0xA9 byte is invalid UTF-8
    assert licenses.detect({"LICENSE": b"\xff\xfe" + latin1}) == ("mit", "LICENSE")


def test_detect_garbage_license_file_is_other():
    assert licenses.detect({"LICENSE": b"\x89PNG\r\n\x1a\n\x00\x00garbage"}) == ("other", "LICENSE")
