import factory
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

from apps.accounts.services import roles_sync


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    password = factory.PostGenerationMethodCall("set_password", "pw-for-tests")

    @factory.post_generation
    def role(self, create, extracted, **kwargs):  # type: ignore[no-untyped-def]
        if extracted:
            if not Group.objects.filter(name=extracted).exists():
                roles_sync()
            self.groups.add(Group.objects.get(name=extracted))
        self.save()
