"""The portal's forms (Flask-WTF): every label and message translated, every field with its autocomplete."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    DateField,
    EmailField,
    HiddenField,
    IntegerField,
    PasswordField,
    SelectField,
    StringField,
    TelField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Email, EqualTo, InputRequired, Length, NumberRange, Optional, Regexp

from loyalty.logins.services import MAX_PASSWORD_LENGTH, MIN_PASSWORD_LENGTH
from member_portal.i18n import HTML_LANG, LANGUAGE_NAMES

REQUIRED = _l("This field is required.")
EMAIL = _l("Enter an email address such as name@example.com.")
PASSWORD_LENGTH = _l("Use at least %(min)s characters.", min=MIN_PASSWORD_LENGTH)


def _email(label=None, required: bool = True) -> EmailField:
    checks = [DataRequired(REQUIRED)] if required else [Optional()]
    return EmailField(
        label or _l("Email"),
        validators=[*checks, Length(max=320, message=EMAIL), Email(EMAIL, check_deliverability=False)],
        render_kw={"autocomplete": "email", "spellcheck": "false", "autocapitalize": "none"},
    )


def _new_password(label=None) -> PasswordField:
    return PasswordField(
        label or _l("Password"),
        validators=[
            InputRequired(REQUIRED),
            Length(min=MIN_PASSWORD_LENGTH, max=MAX_PASSWORD_LENGTH, message=PASSWORD_LENGTH),
        ],
        render_kw={"autocomplete": "new-password", "minlength": MIN_PASSWORD_LENGTH},
        description=_l(
            "At least %(min)s characters. A few unrelated words make a strong one.", min=MIN_PASSWORD_LENGTH
        ),
    )


def _code() -> StringField:
    return StringField(
        _l("Code"),
        validators=[DataRequired(REQUIRED), Length(max=12, message=_l("The code has 6 digits."))],
        render_kw={"autocomplete": "one-time-code", "inputmode": "numeric"},
        description=_l("The 6 digits in the message we sent."),
    )


def _language() -> SelectField:
    choices = [SelectChoice(code, name, render_kw={"lang": HTML_LANG[code]}) for code, name in LANGUAGE_NAMES.items()]
    return SelectField(_l("Language"), choices=choices, validate_choice=True)


class SignUpForm(FlaskForm):
    name = StringField(_l("Your name"), validators=[Optional(), Length(max=200)], render_kw={"autocomplete": "name"})
    email = _email()
    password = _new_password()
    language = _language()
    marketing_email = BooleanField(_l("Send me offers from our partners by email"))


class CodeForm(FlaskForm):
    code = _code()


class CardForm(FlaskForm):
    card_number = StringField(
        _l("Card number"),
        validators=[
            DataRequired(REQUIRED),
            Regexp(r"^[\d\s-]{16,24}$", message=_l("A card number has 16 digits.")),
        ],
        render_kw={"inputmode": "numeric", "autocomplete": "off"},
        description=_l("The 16 digits on the card you were given at the till."),
    )


class CardConfirmForm(FlaskForm):
    code = _code()
    email = _email(_l("Email to sign in with"), required=False)
    password = _new_password()


class LoginForm(FlaskForm):
    email = _email()
    password = PasswordField(
        _l("Password"),
        validators=[InputRequired(REQUIRED), Length(max=MAX_PASSWORD_LENGTH)],
        render_kw={"autocomplete": "current-password"},
    )
    next = HiddenField()


class ForgotForm(FlaskForm):
    email = _email()


class ResetForm(FlaskForm):
    password = _new_password(_l("New password"))
    confirm = PasswordField(
        _l("New password again"),
        validators=[InputRequired(REQUIRED), EqualTo("password", message=_l("The two passwords differ."))],
        render_kw={"autocomplete": "new-password"},
    )


class RedeemForm(FlaskForm):
    form_key = HiddenField(validators=[DataRequired(), Regexp(r"^[A-Za-z0-9_-]{16,64}$")])


class ClaimForm(FlaskForm):
    claim_code = StringField(
        _l("Claim code"),
        validators=[DataRequired(REQUIRED), Length(max=40, message=_l("That is not a claim code."))],
        render_kw={"autocomplete": "off", "autocapitalize": "characters", "spellcheck": "false"},
        description=_l("Printed on the receipt of a purchase made without your card, such as ABCDE-FGH23."),
    )


class _Date(DateField):
    """A date whose parse error is ours, in the member's language."""

    def process_formdata(self, valuelist):
        try:
            super().process_formdata(valuelist)
        except ValueError:
            raise ValueError(_l("Enter the date as on the receipt.")) from None


class _Whole(IntegerField):
    """A whole number whose parse error is ours, in the member's language."""

    def process_formdata(self, valuelist):
        try:
            super().process_formdata(valuelist)
        except ValueError:
            raise ValueError(_l("Enter a whole number of points.")) from None


class MissingPointsForm(FlaskForm):
    """A member reports a purchase whose points never came (a service case)."""

    receipt_ref = StringField(
        _l("Receipt number"),
        validators=[DataRequired(REQUIRED), Length(max=100, message=_l("Use at most 100 characters."))],
        render_kw={"autocomplete": "off", "spellcheck": "false"},
        description=_l("As printed on the receipt."),
    )
    purchased_on = _Date(
        _l("Date of purchase"),
        validators=[InputRequired(REQUIRED)],
        render_kw={"autocomplete": "off"},
    )
    shop = StringField(
        _l("Shop"),
        validators=[Optional(), Length(max=200, message=_l("Use at most 200 characters."))],
        description=_l("The partner and the place, such as Cafe Uno, Rossio."),
    )
    points_claimed = _Whole(
        _l("Points missing (if you know)"),
        validators=[Optional(), NumberRange(min=1, max=1_000_000, message=_l("Enter a whole number of points."))],
        render_kw={"inputmode": "numeric"},
    )
    description = TextAreaField(
        _l("Anything else we should know"),
        validators=[Optional(), Length(max=2000, message=_l("Use at most 2000 characters."))],
    )


class ProfileForm(FlaskForm):
    name = StringField(_l("Name"), validators=[Optional(), Length(max=200)], render_kw={"autocomplete": "name"})
    email = _email()
    phone = TelField(
        _l("Mobile phone"),
        validators=[
            Optional(),
            Length(max=20, message=_l("Enter the number with its country code, such as +447911123456.")),
        ],
        render_kw={"autocomplete": "tel"},
        description=_l("With the country code, such as +447911123456."),
    )
    language = _language()


class ConsentForm(FlaskForm):
    email = BooleanField(_l("Offers by email"))
    sms = BooleanField(_l("Offers by text message"))


class PasswordForm(FlaskForm):
    current_password = PasswordField(
        _l("Current password"), validators=[InputRequired(REQUIRED)], render_kw={"autocomplete": "current-password"}
    )
    password = _new_password(_l("New password"))


class EraseForm(FlaskForm):
    password = PasswordField(
        _l("Your password"), validators=[InputRequired(REQUIRED)], render_kw={"autocomplete": "current-password"}
    )
    understood = BooleanField(
        _l("I understand that my account, my points and my reward codes will be gone for good."),
        validators=[DataRequired(_l("Tick the box to confirm."))],
    )
