//! Package registries, CI/CD, deployment and developer tooling.

use super::Alphabet::*;
use super::Check::*;
use super::Part::*;
use super::{Family, key};

pub const FAMILIES: &[Family] = &[
    // npm took GitHub's scheme: 30 random base62 and a CRC32.
    key(
        "npm_access_token",
        "npm",
        &[Lit("npm_"), Run(Alnum, 36, 36)],
    )
    .check(Crc32Base62),
    // PyPI tokens are macaroons; the prefix is the base64 of their
    // location, pypi.org or test.pypi.org.
    key(
        "pypi_token",
        "PyPI",
        &[Lit("pypi-AgEIcHlwaS5vcmc"), Run(Url64, 50, 280)],
    ),
    key(
        "pypi_test_token",
        "PyPI",
        &[Lit("pypi-AgENdGVzdC5weXBpLm9yZw"), Run(Url64, 50, 280)],
    ),
    key(
        "rubygems_api_key",
        "RubyGems",
        &[Lit("rubygems_"), Run(Hex, 48, 48)],
    ),
    key(
        "nuget_api_key",
        "NuGet",
        &[Lit("oy2"), Run(LowerAlnum, 43, 43)],
    )
    .named(&["nuget"]),
    key(
        "clojars_token",
        "Clojars",
        &[Lit("CLOJARS_"), Run(LowerAlnum, 60, 60)],
    ),
    key(
        "docker_hub_pat",
        "Docker",
        &[Lit("dckr_pat_"), Run(Url64, 27, 27)],
    ),
    key(
        "docker_hub_org_token",
        "Docker",
        &[Lit("dckr_oat_"), Run(Url64, 32, 32)],
    ),
    key(
        "postman_api_key",
        "Postman",
        &[Lit("PMAK-"), Run(Hex, 24, 24), Lit("-"), Run(Hex, 34, 34)],
    ),
    key(
        "circleci_personal_token",
        "CircleCI",
        &[
            Lit("CCIPAT_"),
            Run(Alnum, 22, 22),
            Lit("_"),
            Run(Hex, 40, 40),
        ],
    ),
    key(
        "circleci_project_token",
        "CircleCI",
        &[
            Lit("CCIPRJ_"),
            Run(Alnum, 22, 22),
            Lit("_"),
            Run(Hex, 40, 40),
        ],
    ),
    key(
        "buildkite_token",
        "Buildkite",
        &[Lit("bkua_"), Run(Hex, 40, 40)],
    ),
    key(
        "sonarqube_user_token",
        "SonarSource",
        &[Lit("squ_"), Run(Hex, 40, 40)],
    ),
    key(
        "sonarqube_project_token",
        "SonarSource",
        &[Lit("sqp_"), Run(Hex, 40, 40)],
    ),
    key(
        "sonarqube_analysis_token",
        "SonarSource",
        &[Lit("sqa_"), Run(Hex, 40, 40)],
    ),
    key("jfrog_api_key", "JFrog", &[Lit("AKCp"), Run(Alnum, 69, 69)]).likely(),
    key(
        "jfrog_reference_token",
        "JFrog",
        &[Lit("cmVmdGtu"), Run(Alnum, 56, 56)],
    )
    .likely(),
    key(
        "sentry_org_token",
        "Sentry",
        &[Lit("sntrys_eyJ"), Run(Url64Pad, 100, 300)],
    ),
    key(
        "sentry_user_token",
        "Sentry",
        &[Lit("sntryu_"), Run(Hex, 64, 64)],
    ),
    key(
        "tailscale_api_key",
        "Tailscale",
        &[
            Lit("tskey-api-"),
            Run(Alnum, 6, 24),
            Lit("-"),
            Run(Alnum, 24, 48),
        ],
    ),
    key(
        "tailscale_auth_key",
        "Tailscale",
        &[
            Lit("tskey-auth-"),
            Run(Alnum, 6, 24),
            Lit("-"),
            Run(Alnum, 24, 48),
        ],
    ),
    key(
        "tailscale_oauth_client_secret",
        "Tailscale",
        &[
            Lit("tskey-client-"),
            Run(Alnum, 6, 24),
            Lit("-"),
            Run(Alnum, 24, 48),
        ],
    ),
    key(
        "infracost_api_key",
        "Infracost",
        &[Lit("ico-"), Run(Alnum, 32, 32)],
    ),
    key(
        "prefect_api_key",
        "Prefect",
        &[Lit("pnu_"), Run(Alnum, 36, 36)],
    ),
    key(
        "readme_api_key",
        "ReadMe",
        &[Lit("rdme_"), Run(Alnum, 70, 70)],
    ),
    key(
        "octopus_deploy_api_key",
        "Octopus Deploy",
        &[Lit("API-"), Run(UpperAlnum, 25, 32)],
    )
    .likely()
    .check(Random),
    key(
        "harness_pat",
        "Harness",
        &[
            Lit("pat."),
            Run(Url64, 22, 22),
            Lit("."),
            Run(Alnum, 24, 24),
            Lit("."),
            Run(Alnum, 20, 20),
        ],
    ),
    key(
        "launchdarkly_access_token",
        "LaunchDarkly",
        &[
            Lit("api-"),
            Run(Hex, 8, 8),
            Lit("-"),
            Run(Hex, 4, 4),
            Lit("-"),
            Run(Hex, 4, 4),
            Lit("-"),
            Run(Hex, 4, 4),
            Lit("-"),
            Run(Hex, 12, 12),
        ],
    ),
    key(
        "launchdarkly_sdk_key",
        "LaunchDarkly",
        &[
            Lit("sdk-"),
            Run(Hex, 8, 8),
            Lit("-"),
            Run(Hex, 4, 4),
            Lit("-"),
            Run(Hex, 4, 4),
            Lit("-"),
            Run(Hex, 4, 4),
            Lit("-"),
            Run(Hex, 12, 12),
        ],
    ),
];
