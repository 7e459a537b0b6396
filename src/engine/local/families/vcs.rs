//! Source hosting: GitHub, GitLab, Bitbucket and Atlassian, Azure DevOps.

use super::Alphabet::*;
use super::Check::*;
use super::Part::*;
use super::{Family, key};

pub const FAMILIES: &[Family] = &[
    // GitHub: a three-letter type prefix, 30 random base62 characters and
    // their CRC32 in six.
    key("github_pat", "GitHub", &[Lit("ghp_"), Run(Alnum, 36, 36)]).check(Crc32Base62),
    key("github_oauth", "GitHub", &[Lit("gho_"), Run(Alnum, 36, 36)]).check(Crc32Base62),
    key(
        "github_user_to_server",
        "GitHub",
        &[Lit("ghu_"), Run(Alnum, 36, 36)],
    )
    .check(Crc32Base62),
    key(
        "github_server_to_server",
        "GitHub",
        &[Lit("ghs_"), Run(Alnum, 36, 36)],
    )
    .check(Crc32Base62),
    key(
        "github_refresh_token",
        "GitHub",
        &[Lit("ghr_"), Run(Alnum, 36, 36)],
    )
    .check(Crc32Base62),
    key(
        "github_fine_grained_pat",
        "GitHub",
        &[
            Lit("github_pat_"),
            Run(Alnum, 22, 22),
            Lit("_"),
            Run(Alnum, 59, 59),
        ],
    ),
    // GitLab's token prefixes, from its token overview.
    key("gitlab_pat", "GitLab", &[Lit("glpat-"), Run(Url64, 20, 64)]),
    key(
        "gitlab_pipeline_trigger_token",
        "GitLab",
        &[Lit("glptt-"), Run(Hex, 40, 40)],
    ),
    key(
        "gitlab_runner_token",
        "GitLab",
        &[Lit("glrt-"), Run(Url64, 20, 64)],
    ),
    key(
        "gitlab_deploy_token",
        "GitLab",
        &[Lit("gldt-"), Run(Url64, 20, 64)],
    ),
    key(
        "gitlab_ci_build_token",
        "GitLab",
        &[Lit("glcbt-"), Run(Url64, 20, 80)],
    ),
    key(
        "gitlab_scim_token",
        "GitLab",
        &[Lit("glsoat-"), Run(Url64, 20, 64)],
    ),
    key(
        "gitlab_feed_token",
        "GitLab",
        &[Lit("glft-"), Run(Url64, 20, 64)],
    ),
    key(
        "gitlab_incoming_mail_token",
        "GitLab",
        &[Lit("glimt-"), Run(Url64, 25, 64)],
    ),
    key(
        "gitlab_agent_token",
        "GitLab",
        &[Lit("glagent-"), Run(Url64, 50, 100)],
    ),
    key(
        "gitlab_oauth_app_secret",
        "GitLab",
        &[Lit("gloas-"), Run(Hex, 64, 64)],
    ),
    key(
        "gitlab_feature_flag_token",
        "GitLab",
        &[Lit("glffct-"), Run(Url64, 20, 64)],
    ),
    key(
        "gitlab_runner_registration_token",
        "GitLab",
        &[Lit("GR1348941"), Run(Url64, 20, 20)],
    ),
    key(
        "bitbucket_app_password",
        "Atlassian",
        &[Lit("ATBB"), Run(Alnum, 32, 32)],
    ),
    key(
        "atlassian_api_token",
        "Atlassian",
        &[Lit("ATATT3"), Run(Url64Pad, 180, 200)],
    ),
    key(
        "atlassian_admin_api_key",
        "Atlassian",
        &[Lit("ATCTT3"), Run(Url64Pad, 180, 200)],
    ),
    key(
        "azure_devops_pat",
        "Microsoft",
        &[Run(Alnum, 76, 76), Lit("AZDO"), Run(Alnum, 4, 4)],
    )
    .check(Random),
];
