"""The SQL that generates the demo data, entirely inside DuckDB.

Randomness is ``hash(seed, key, salt)`` mapped to [0, 1) (macro ``u01``), so
the same arguments give the same rows on any thread count. Every constant the
SQL needs (sizes, dates, word lists, weights) is bound as a DuckDB variable
(``getvariable``); nothing is formatted into the SQL text.

Shape of the data, in three steps:

1. ``core``: one row per profile with its hidden persona (vip, lapsed_vip,
   loyal, occasional, browser, dormant), traits (email engager, app-first,
   forced cart abandoner) and activity window; an integer weight decides how
   many *episodes* (sessions of five events) it gets. Running sums of the
   weights hand out exactly ceil(events / 5) episodes.
2. ``episodes`` (a view): one row per session: a shopping visit (web, app or
   store; the funnel view -> add_to_cart -> checkout -> purchase, cut at a
   random depth) or an email run (sent; sent/open pairs; or sent, open,
   click and a visit). Start times favour Black Friday, December, the spring
   sale and summer, and evening hours.
3. ``events``: five rows per episode, minutes apart within a visit, cut at
   exactly the requested number of events.
"""

from __future__ import annotations

MACROS = [
    # 53 random bits of hash(seed, key, salt) as a double in [0, 1). DuckDB's
    # multi-argument hash only combines the per-argument hashes, so nearby salts
    # give correlated draws; hashing the combination again mixes them apart.
    """
    CREATE MACRO u01(k, salt) AS
        (hash(hash(getvariable('seed'), k, salt)) >> 11)::DOUBLE / 9007199254740992.0
    """,
    # Weight of an epoch second: season of its day times its hour of day
    # (evenings busiest, nights quiet).
    """
    CREATE MACRO time_w(s) AS
        getvariable('day_w')[1 + (s // 86400 - getvariable('base_day'))::INTEGER]
        * CASE
            WHEN s % 86400 < 21600 THEN 0.15
            WHEN s % 86400 < 32400 THEN 0.5
            WHEN s % 86400 < 43200 THEN 0.8
            WHEN s % 86400 < 64800 THEN 0.85
            WHEN s % 86400 < 82800 THEN 1.0
            ELSE 0.5
        END
    """,
    """
    CREATE MACRO to_ts(s) AS epoch_ms(s * 1000)
    """,
]

CORE0 = """
CREATE TABLE core0 AS
WITH b AS (
    SELECT
        range AS i,
        getvariable('persona_lut')[1 + floor(u01(range, 1) * 1000)::INTEGER] AS persona,
        getvariable('country_lut')[1 + floor(u01(range, 2) * 1000)::INTEGER] AS country,
        getvariable('category_lut')[1 + floor(u01(range, 3) * 1000)::INTEGER] AS fav_cat,
        u01(range, 4) AS u_gender,
        u01(range, 5) AS u_signup,
        u01(range, 6) AS u_signup_t,
        u01(range, 7) AS u_tier,
        u01(range, 8) AS u_optin,
        u01(range, 9) AS u_engager,
        u01(range, 10) AS u_sms,
        u01(range, 11) AS u_app,
        u01(range, 12) AS u_lapse,
        u01(range, 13) AS u_cart,
        u01(range, 14) AS u_cart_t,
        u01(range, 15) AS u_n1,
        u01(range, 16) AS u_n2
    FROM range(getvariable('n_profiles'))
), s AS (
    SELECT
        *,
        least(
            getvariable('end_day_s')
            - 86400 * (CASE persona
                WHEN 1 THEN floor(1095 * pow(u_signup, 0.7))
                WHEN 2 THEN 450 + floor(640 * u_signup)
                ELSE floor(1095 * pow(u_signup, 1.15))
            END)::BIGINT
            + floor(u_signup_t * 86400)::BIGINT,
            getvariable('end_s') - 3600
        ) AS signup_s,
        CASE WHEN persona = 2
            THEN getvariable('end_s') - 86400 * (200 + floor(220 * u_lapse))::BIGINT
            ELSE getvariable('end_s')
        END AS shop_end_s,
        u_optin < getvariable('p_optin')[persona] AS email_opt_in,
        getvariable('end_s') - floor((0.05 + 29.95 * pow(u_cart_t, 1.5)) * 86400)::BIGINT
            AS cart_s
    FROM b
), a AS (
    SELECT
        *,
        greatest(getvariable('ws_s'), signup_s) AS active_s,
        email_opt_in AND u_engager < getvariable('p_engager')[persona] AS engager,
        CASE WHEN email_opt_in THEN u_sms < 0.4 ELSE u_sms < 0.08 END AS sms_opt_in,
        u_app < CASE persona WHEN 1 THEN 0.3 WHEN 3 THEN 0.25 WHEN 6 THEN 0.1 ELSE 0.18 END
            AS app_first
    FROM s
)
SELECT
    i::BIGINT AS i,
    persona::UTINYINT AS persona,
    country::UTINYINT AS country,
    fav_cat::UTINYINT AS fav_cat,
    (CASE
        WHEN u_gender < 0.485 THEN 1
        WHEN u_gender < 0.955 THEN 2
        WHEN u_gender < 0.975 THEN 3
        ELSE 0
    END)::UTINYINT AS gender,
    (CASE persona
        WHEN 1 THEN CASE WHEN u_tier < 0.55 THEN 4 ELSE 5 END
        WHEN 2 THEN CASE WHEN u_tier < 0.6 THEN 4 WHEN u_tier < 0.9 THEN 5 ELSE 3 END
        WHEN 3 THEN CASE WHEN u_tier < 0.25 THEN 2 WHEN u_tier < 0.75 THEN 3 ELSE 4 END
        WHEN 4 THEN CASE WHEN u_tier < 0.35 THEN 1 WHEN u_tier < 0.8 THEN 2 ELSE 3 END
        WHEN 5 THEN CASE WHEN u_tier < 0.75 THEN 1 ELSE 2 END
        ELSE CASE WHEN u_tier < 0.8 THEN 1 ELSE 2 END
    END)::UTINYINT AS tier,
    signup_s,
    active_s,
    shop_end_s,
    cart_s,
    email_opt_in,
    sms_opt_in,
    engager,
    app_first,
    -- Forced cart abandoners: an add_to_cart in the last 30 days is their last visit.
    (persona IN (1, 3, 4, 5) AND u_cart < 0.05 AND cart_s - 7200 > active_s)::INTEGER
        AS forced,
    greatest(1, round(
        1000 * getvariable('p_weight')[persona]
        * exp(0.55 * sqrt(-2 * ln(greatest(u_n1, 1e-12))) * cos(2 * pi() * u_n2))
        * pow(greatest((getvariable('end_s') - active_s)
            / (getvariable('end_s') - getvariable('ws_s')), 0.01), 0.6)
    ))::BIGINT AS w
FROM a
"""

TOTALS = "SELECT coalesce(sum(w), 0)::BIGINT, coalesce(sum(forced), 0)::BIGINT FROM core0"

DROP_FORCED = "UPDATE core0 SET forced = 0"

# Exact split of the episodes over the profiles by running sums of integer
# weights (integers, so the split does not depend on summation order).
CORE = """
CREATE TABLE core AS
SELECT
    * EXCLUDE (wcum, fcum),
    (((wcum - w)::HUGEINT * getvariable('m_free') // getvariable('w_total'))
        + fcum - forced)::BIGINT AS ep0,
    (wcum::HUGEINT * getvariable('m_free') // getvariable('w_total')
        - (wcum - w)::HUGEINT * getvariable('m_free') // getvariable('w_total')
        + forced)::BIGINT AS m
FROM (
    SELECT
        *,
        sum(w) OVER (ORDER BY i ROWS UNBOUNDED PRECEDING) AS wcum,
        sum(forced) OVER (ORDER BY i ROWS UNBOUNDED PRECEDING) AS fcum
    FROM core0
)
ORDER BY i
"""

EPISODES = """
CREATE VIEW episodes AS
WITH x AS (
    SELECT
        i, persona, fav_cat, app_first, engager, email_opt_in, forced,
        active_s, shop_end_s, cart_s, m, e, ep0 + e AS g,
        forced = 1 AND e = m - 1 AS is_cart
    FROM (SELECT *, unnest(range(m)) AS e FROM core)
), k AS (
    SELECT
        *,
        CASE
            WHEN is_cart THEN 0
            WHEN email_opt_in AND u01(g, 101) < CASE WHEN engager THEN 0.45 ELSE 0.28 END
                THEN 1
            ELSE 0
        END AS kind,
        u01(g, 102) AS u_ch,
        u01(g, 103) AS u_var
    FROM x
), c AS (
    SELECT
        *,
        CASE
            WHEN kind = 1 OR is_cart THEN CASE WHEN app_first THEN 2 ELSE 1 END
            WHEN app_first THEN CASE WHEN u_ch < 0.72 THEN 2 WHEN u_ch < 0.97 THEN 1 ELSE 3 END
            ELSE CASE WHEN u_ch < 0.74 THEN 1 WHEN u_ch < 0.94 THEN 2 ELSE 3 END
        END AS ch,
        CASE
            WHEN kind = 0 THEN 0
            WHEN u_var < CASE WHEN engager THEN 0.15 ELSE 0.75 END THEN 0
            WHEN u_var < CASE WHEN engager THEN 0.55 ELSE 0.95 END THEN 1
            ELSE 2
        END AS variant,
        active_s AS lo,
        CASE
            WHEN kind = 1 THEN getvariable('end_s')
            WHEN forced = 1 THEN cart_s - 3600
            ELSE shop_end_s
        END AS hi
    FROM k
), sp AS (
    SELECT
        *,
        CASE WHEN kind = 0 THEN 750 ELSE [2422800, 1209601, 26001][variant + 1] END AS span
    FROM c
), r AS (
    SELECT
        *,
        least(1.0, (hi - lo) / span) AS scale,
        greatest(hi - lo - ceil(span * least(1.0, (hi - lo) / span))::BIGINT, 0) AS room
    FROM sp
), cand AS (
    SELECT
        *,
        lo + floor(u01(g, 110) * room)::BIGINT AS c0,
        lo + floor(u01(g, 111) * room)::BIGINT AS c1,
        lo + floor(u01(g, 112) * room)::BIGINT AS c2,
        lo + floor(u01(g, 113) * room)::BIGINT AS c3,
        lo + floor(u01(g, 114) * room)::BIGINT AS c4,
        lo + floor(u01(g, 115) * room)::BIGINT AS c5
    FROM r
), t AS (
    SELECT
        *,
        CASE
            WHEN is_cart THEN cart_s
            WHEN u01(g, 120) < time_w(c0) THEN c0
            WHEN u01(g, 121) < time_w(c1) THEN c1
            WHEN u01(g, 122) < time_w(c2) THEN c2
            WHEN u01(g, 123) < time_w(c3) THEN c3
            WHEN u01(g, 124) < time_w(c4) THEN c4
            ELSE c5
        END AS start_s
    FROM cand
), z AS (
    SELECT
        *,
        getvariable('day_season')[1 + (start_s // 86400 - getvariable('base_day'))::INTEGER]
            AS season,
        CASE WHEN u01(g, 150) < 0.55 THEN fav_cat ELSE 1 + floor(5 * u01(g, 151))::INTEGER END
            AS cat,
        floor(200 * pow(u01(g, 152), 2))::INTEGER AS product,
        u01(g, 140) AS u1,
        u01(g, 141) AS u2,
        u01(g, 142) AS u3,
        u01(g, 153) AS u_qty,
        u01(g, 130) AS u_camp,
        u01(g, 161) AS u_dev2,
        u01(g, 162) AS u_dev
    FROM t
)
SELECT
    i, g, kind, variant, scale, start_s,
    CASE
        WHEN is_cart THEN CASE WHEN u01(g, 143) < 0.6 THEN 1 ELSE 2 END
        WHEN kind = 1 THEN 0
        WHEN ch = 3 THEN 3
        ELSE (u1 < pa)::INTEGER + (u1 < pa AND u2 < pc)::INTEGER
            + (u1 < pa AND u2 < pc AND u3 < pp)::INTEGER
    END AS depth,
    'P' || lpad(i::VARCHAR, getvariable('id_width'), '0') AS pid,
    CASE ch WHEN 1 THEN 'web' WHEN 2 THEN 'app' ELSE 'store' END AS ch_name,
    CASE ch WHEN 1 THEN 'page_view' WHEN 2 THEN 'app_open' ELSE 'product_view' END AS entry,
    getvariable('cat_name')[cat] AS cat_name,
    getvariable('cat_prefix')[cat] || '-' AS prefix,
    getvariable('cat_prefix')[cat] || '-' || lpad(product::VARCHAR, 4, '0') AS product_id,
    CASE
        WHEN kind = 1 AND persona = 2 AND start_s > shop_end_s THEN 'winback'
        WHEN kind = 1 AND persona = 6 AND u_camp < 0.5 THEN 'winback'
        WHEN kind = 1 AND season > 0 THEN getvariable('season_campaign')[season]
        WHEN kind = 1 AND u_camp < 0.55 THEN 'newsletter'
        WHEN kind = 1 THEN 'new_arrivals'
        WHEN season > 0 AND u_camp < 0.45 THEN getvariable('season_campaign')[season]
        WHEN u_camp < 0.05 THEN 'new_arrivals'
    END AS campaign,
    round(
        getvariable('price')[(cat - 1) * 200 + product + 1]
        * CASE
            WHEN persona IN (1, 2) THEN CASE WHEN u_qty < 0.5 THEN 1 WHEN u_qty < 0.82 THEN 2
                ELSE 3 END
            ELSE CASE WHEN u_qty < 0.78 THEN 1 WHEN u_qty < 0.95 THEN 2 ELSE 3 END
        END,
        2
    ) AS revenue,
    3600 + floor(u01(g, 160) * 21600)::BIGINT AS open_delay,
    CASE WHEN u_dev2 < 0.6 THEN 'mobile' WHEN u_dev2 < 0.95 THEN 'desktop' ELSE 'tablet' END
        AS reader,
    CASE ch
        WHEN 1 THEN CASE WHEN u_dev < 0.55 THEN 'desktop' WHEN u_dev < 0.9 THEN 'mobile'
            ELSE 'tablet' END
        WHEN 2 THEN CASE WHEN u_dev < 0.85 THEN 'mobile' ELSE 'tablet' END
    END AS device,
    u01(g, 163) < 0.35 AS tail_cart
FROM (
    SELECT
        *,
        -- Sales push shoppers further down the funnel.
        least(0.95, getvariable('p_atc')[persona]
            * [1.0, 1.35, 1.2, 1.15, 1.05][season + 1]) AS pa,
        getvariable('p_co')[persona] AS pc,
        getvariable('p_pur')[persona] AS pp
    FROM z
)
"""

LTV = """
CREATE TABLE ltv AS
SELECT i, sum(revenue) AS spend
FROM episodes
WHERE kind = 0 AND depth = 3 AND g * 5 + 4 < getvariable('n_events')
GROUP BY i
"""

# Columns of the events output; ``{order}`` is filled by the caller with a
# fixed clause (never with user text).
EVENTS = """
WITH s AS (
    SELECT *, unnest([0, 1, 2, 3, 4]) AS p FROM episodes
), v AS (
    SELECT *, g * 5 + p AS ev, 5 - depth AS nv, u01(g * 5 + p, 201) AS uj
    FROM s
    WHERE g * 5 + p < getvariable('n_events')
), y AS (
    SELECT
        *,
        CASE
            WHEN kind = 0 THEN CASE
                WHEN p = 0 THEN entry
                WHEN p < nv THEN 'product_view'
                WHEN p = nv THEN 'add_to_cart'
                WHEN p = nv + 1 THEN 'checkout'
                ELSE 'purchase'
            END
            WHEN variant = 0 THEN 'email_sent'
            WHEN variant = 1 THEN CASE WHEN p % 2 = 0 THEN 'email_sent' ELSE 'email_open' END
            WHEN p = 0 THEN 'email_sent'
            WHEN p = 1 THEN 'email_open'
            WHEN p = 2 THEN 'email_click'
            WHEN p = 4 AND tail_cart THEN 'add_to_cart'
            ELSE 'product_view'
        END AS event_type,
        CASE
            WHEN kind = 0 THEN p * 150 + floor(uj * 120)::BIGINT
            ELSE floor(scale * CASE
                WHEN variant = 0 THEN p * 604800 + floor(uj * 3600)
                WHEN variant = 1 THEN (p // 2) * 604800 + (p % 2) * (3600 + floor(uj * 21600))
                WHEN p = 0 THEN 0
                WHEN p = 1 THEN open_delay
                WHEN p = 2 THEN open_delay + 60 + floor(uj * 240)
                WHEN p = 3 THEN open_delay + 400 + floor(uj * 100)
                ELSE open_delay + 600 + floor(uj * 200)
            END)::BIGINT
        END AS offset_s,
        kind = 1 AND variant = 2 AND p >= 3 AS tail
    FROM v
)
SELECT
    pid AS profile_id,
    event_type AS "eventType",
    to_ts(start_s + offset_s) AS "timestamp",
    CASE WHEN event_type = 'purchase' THEN revenue END AS revenue,
    CASE WHEN (kind = 0 AND event_type <> 'app_open') OR tail THEN cat_name END AS category,
    CASE
        WHEN kind = 1 AND NOT tail THEN NULL
        WHEN event_type IN ('page_view', 'app_open') THEN NULL
        WHEN kind = 0 AND p < nv - 1
            THEN prefix || lpad(floor(200 * uj * uj)::INTEGER::VARCHAR, 4, '0')
        ELSE product_id
    END AS "productId",
    CASE WHEN kind = 1 AND NOT tail THEN 'email' ELSE ch_name END AS channel,
    CASE
        WHEN event_type = 'email_sent' THEN NULL
        WHEN kind = 1 AND NOT tail THEN reader
        ELSE device
    END AS device,
    campaign
FROM y
"""

EVENTS_ORDER = " ORDER BY i, start_s + offset_s, g, p"

PROFILES = """
WITH n AS (
    SELECT
        c.*,
        coalesce(l.spend, 0) AS spend,
        getvariable('country_lang')[c.country] AS lang,
        CASE
            WHEN gender = 1 OR (gender IN (0, 3) AND u01(i, 30) < 0.5)
                THEN getvariable('first_f')[getvariable('country_lang')[c.country]]
                    [1 + floor(16 * u01(i, 31))::INTEGER]
            ELSE getvariable('first_m')[getvariable('country_lang')[c.country]]
                [1 + floor(16 * u01(i, 31))::INTEGER]
        END AS first_name,
        getvariable('last')[getvariable('country_lang')[c.country]]
            [1 + floor(24 * u01(i, 32))::INTEGER] AS last_name,
        getvariable('cat_interests')[fav_cat] AS cat_tags
    FROM core AS c
    LEFT JOIN ltv AS l USING (i)
), k AS (
    SELECT
        *,
        regexp_replace(strip_accents(lower(first_name)), '[^a-z]', '', 'g') AS fk,
        regexp_replace(strip_accents(lower(last_name)), '[^a-z]', '', 'g') AS lk,
        cat_tags[1 + floor(len(cat_tags) * u01(i, 41))::INTEGER] AS main_tag,
        u01(i, 33) AS u_mail,
        (i * getvariable('email_mult') + getvariable('email_add')) % getvariable('email_mod')
            AS mail_no
    FROM n
)
SELECT
    'P' || lpad(i::VARCHAR, getvariable('id_width'), '0') AS profile_id,
    CASE
        WHEN u_mail < 0.4 THEN fk || '.' || lk
        WHEN u_mail < 0.6 THEN fk || lk
        WHEN u_mail < 0.75 THEN fk[1] || lk
        WHEN u_mail < 0.9 THEN fk || '_' || lk
        ELSE fk || '.' || lk[1]
    END || mail_no::VARCHAR || '@'
        || getvariable('domains')[CASE WHEN u01(i, 34) < 0.5 THEN 1
            WHEN u01(i, 34) < 0.8 THEN 2 ELSE 3 END] AS email,
    first_name AS "firstName",
    last_name AS "lastName",
    ['female', 'male', 'non_binary'][gender] AS gender,
    CASE WHEN u01(i, 37) >= 0.10 THEN to_ts(getvariable('end_day_s') - 86400 * (
        365 * (18 + floor(60 * pow((u01(i, 38) + u01(i, 39) + u01(i, 42)) / 3, 1.6)))
        + floor(365 * u01(i, 43)))::BIGINT)::DATE
    END AS "birthDate",
    getvariable('country_code')[country] AS country,
    CASE WHEN u01(i, 35) >= 0.05 THEN getvariable('cities')[country]
        [1 + floor(6 * pow(u01(i, 36), 1.6))::INTEGER]
    END AS city,
    getvariable('country_code')[country] AS "homeAddress.countryCode",
    to_ts(signup_s)::DATE AS "signupDate",
    getvariable('tiers')[tier] AS "loyaltyTier",
    email_opt_in AS "emailOptIn",
    sms_opt_in AS "smsOptIn",
    {interests} AS interests,
    round(spend + greatest(0, (getvariable('ws_s') - signup_s) / 86400)
        * getvariable('p_daily')[persona] * (0.5 + u01(i, 44)), 2) AS "lifetimeValue"
FROM k
ORDER BY i
"""

INTERESTS_LIST = """CASE WHEN u01(i, 40) >= 0.06 THEN list_concat([main_tag],
        [t FOR t IN getvariable('interests')
            IF t <> main_tag AND u01(i, hash(t)) < 0.12]) END"""

# Price of every product (5 categories x 200), the same whatever the seed:
# a product keeps its price across demo files. Prices end in .99.
PRICES = """
SET VARIABLE price = (
    SELECT list(
        round(getvariable('cat_lo')[c] + (getvariable('cat_hi')[c] - getvariable('cat_lo')[c])
            * pow((hash(hash(c, n, 7)) >> 11)::DOUBLE / 9007199254740992.0, 1.5)) - 0.01
        ORDER BY c, n)
    FROM range(1, 6) AS a(c), range(200) AS b(n)
)
"""
